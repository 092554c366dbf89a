variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows may assume the CI roles."
  type        = string
}

variable "ecr_repository_arn" {
  description = "The image repository the push role writes to."
  type        = string
}

variable "environments" {
  description = "Environments with a deploy role (GitHub environment names)."
  type        = list(string)
  default     = ["dev", "staging", "prod"]
}

variable "state_bucket_arn" {
  description = "Terraform state bucket (the deploy roles read their environment's outputs)."
  type        = string
}

variable "state_kms_key_arn" {
  description = "KMS key of the state bucket."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
