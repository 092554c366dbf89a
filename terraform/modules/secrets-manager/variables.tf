variable "name" {
  description = "Name prefix (myhealth-<env>)."
  type        = string
}

variable "environment" {
  description = "Environment name used in the secret paths (myhealth/<environment>/...)."
  type        = string
}

variable "kafka_scram" {
  description = "Create the MSK SCRAM credentials secret (AmazonMSK_myhealth_<environment>_app)."
  type        = bool
  default     = false
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
