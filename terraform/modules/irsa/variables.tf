variable "name" {
  description = "Name prefix (myhealth-<env>)."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The EKS cluster's IAM OIDC provider."
  type        = string
}

variable "oidc_provider_url" {
  description = "Its issuer URL without https://."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the Helm release."
  type        = string
  default     = "myhealth"
}

variable "release_name" {
  description = "Helm release name: ServiceAccounts are <release>-<component>."
  type        = string
  default     = "myhealth"
}

variable "msk_cluster_arn" {
  description = "MSK cluster ARN."
  type        = string
}

variable "msk_topic_arn_prefix" {
  description = "ARN prefix of the cluster's topics (ends with /)."
  type        = string
}

variable "msk_group_arn_prefix" {
  description = "ARN prefix of the cluster's consumer groups (ends with /)."
  type        = string
}

variable "topic_prefix" {
  description = "KAFKA_TOPIC_PREFIX of the deployment."
  type        = string
  default     = ""
}

variable "secret_arns" {
  description = "Secrets the External Secrets role may read."
  type        = list(string)
}

variable "secrets_kms_key_arn" {
  description = "KMS key of those secrets."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
