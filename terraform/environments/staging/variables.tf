variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "ecr_repository_url" {
  description = "Output ecr_repository_url of environments/global."
  type        = string
}

variable "eks_public_access_cidrs" {
  description = "CIDRs allowed to reach the EKS API (your office/VPN egress; GitHub's runner ranges for CI)."
  type        = list(string)
}

variable "eks_admin_role_arns" {
  description = "Operators' IAM roles with cluster-admin; the environment's deploy role is added automatically."
  type        = list(string)
  default     = []
}
