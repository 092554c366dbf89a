# Account-wide pieces shared by every environment: the image repository (images are built once
# and promoted by digest) and the GitHub Actions OIDC roles.

variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "github_repository" {
  description = "owner/name of the GitHub repository running the workflows."
  type        = string
}

variable "state_bucket_arn" {
  description = "terraform/bootstrap output state_bucket_arn."
  type        = string
}

variable "state_kms_key_arn" {
  description = "terraform/bootstrap output state_kms_key_arn."
  type        = string
}

module "ecr" {
  source = "../../modules/ecr"
  name   = "myhealth"
  tags   = { Project = "myhealth" }
}

module "github_oidc" {
  source             = "../../modules/github-oidc"
  github_repository  = var.github_repository
  ecr_repository_arn = module.ecr.repository_arn
  environments       = ["dev", "staging", "prod"]
  state_bucket_arn   = var.state_bucket_arn
  state_kms_key_arn  = var.state_kms_key_arn
  tags               = { Project = "myhealth" }
}

output "ecr_repository_url" {
  description = "Image repository (GitHub variable ECR_REPOSITORY_URL; ecr_repository_url input of each environment)."
  value       = module.ecr.repository_url
}

output "push_role_arn" {
  description = "GitHub repository variable AWS_PUSH_ROLE_ARN."
  value       = module.github_oidc.push_role_arn
}

output "deploy_role_arns" {
  description = "GitHub environment variable AWS_DEPLOY_ROLE_ARN of each environment."
  value       = module.github_oidc.deploy_role_arns
}
