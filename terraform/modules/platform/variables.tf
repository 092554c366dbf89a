variable "environment" {
  description = "dev, staging or prod."
  type        = string
  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "azs" {
  description = "Three availability zones of the region."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "VPC CIDR block."
  type        = string
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per AZ (dev)."
  type        = bool
  default     = false
}

variable "eks_public_access_cidrs" {
  description = "CIDRs allowed to reach the EKS API endpoint (operators, CI runners)."
  type        = list(string)
}

variable "eks_admin_role_arns" {
  description = "IAM roles with cluster-admin (operators' SSO role, the environment's deploy role)."
  type        = list(string)
  default     = []
}

variable "eks_node_groups" {
  description = "Managed node groups (see modules/eks)."
  type = map(object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    capacity_type  = optional(string, "ON_DEMAND")
    disk_size_gib  = optional(number, 50)
  }))
}

variable "rds_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "rds_multi_az" {
  description = "RDS Multi-AZ."
  type        = bool
  default     = true
}

variable "rds_backup_retention_days" {
  description = "RDS automated backup retention."
  type        = number
  default     = 30
}

variable "rds_deletion_protection" {
  description = "RDS deletion protection."
  type        = bool
  default     = true
}

variable "rds_skip_final_snapshot" {
  description = "Skip the final snapshot on deletion."
  type        = bool
  default     = false
}

variable "rds_performance_insights_retention_days" {
  description = "Performance Insights retention."
  type        = number
  default     = 7
}

variable "msk_broker_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.m7g.large"
}

variable "msk_broker_volume_gib" {
  description = "EBS per broker."
  type        = number
  default     = 500
}

variable "kafka_auth" {
  description = "How the services authenticate to MSK: iam (SASL/OAUTHBEARER with IRSA) or scram (SASL/SCRAM-SHA-512)."
  type        = string
  default     = "iam"
  validation {
    condition     = contains(["iam", "scram"], var.kafka_auth)
    error_message = "kafka_auth must be iam or scram."
  }
}

variable "k8s_namespace" {
  description = "Namespace of the Helm release."
  type        = string
  default     = "myhealth"
}

variable "helm_release" {
  description = "Helm release name."
  type        = string
  default     = "myhealth"
}

variable "ecr_repository_url" {
  description = "Image repository (from the global environment)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the VPC flow logs, EKS and MSK logs."
  type        = number
  default     = 365
}
