variable "name" {
  description = "Cluster name."
  type        = string
}

variable "kafka_version" {
  description = "MSK Kafka version: 4.1 (KRaft), the same release as the local broker and docker-compose (4.1.1)."
  type        = string
  default     = "4.1.x.kraft"
}

variable "vpc_id" {
  description = "VPC id."
  type        = string
}

variable "subnet_ids" {
  description = "Three private subnets in three AZs: one broker in each."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) == 3
    error_message = "Three brokers across three AZs need exactly three subnets."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to reach the brokers (the EKS cluster/node security group)."
  type        = list(string)
}

variable "broker_instance_type" {
  description = "Broker instance type (Kafka 4.x runs on Graviton m7g brokers)."
  type        = string
  default     = "kafka.m7g.large"
}

variable "broker_volume_gib" {
  description = "EBS volume per broker (raw topics keep the newest version of every document: compacted, no time retention)."
  type        = number
  default     = 500
}

variable "iam_auth" {
  description = "Enable SASL/IAM (port 9098); the workloads' IRSA roles carry topic and group permissions."
  type        = bool
  default     = true
}

variable "scram_auth" {
  description = "Enable SASL/SCRAM (port 9096) with the credentials in scram_secret_arns."
  type        = bool
  default     = false
}

variable "scram_secret_arns" {
  description = "Secrets Manager secrets (named AmazonMSK_..., encrypted with a customer key) holding SCRAM users."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of the broker logs."
  type        = number
  default     = 365
}

variable "logs_kms_key_arn" {
  description = "KMS key for the broker log group."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
