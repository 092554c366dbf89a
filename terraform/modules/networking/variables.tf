variable "name" {
  description = "Name prefix for every resource (e.g. myhealth-prod)."
  type        = string
}

variable "cidr" {
  description = "VPC CIDR block."
  type        = string
  default     = "10.0.0.0/16"
}

variable "azs" {
  description = "Exactly three availability zones."
  type        = list(string)
  validation {
    condition     = length(var.azs) == 3
    error_message = "The platform spreads EKS nodes, RDS Multi-AZ and the three MSK brokers over exactly 3 AZs."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper, for dev) instead of one per AZ."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow logs in CloudWatch Logs."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow-log group."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
