variable "name" {
  description = "Instance identifier."
  type        = string
}

variable "vpc_id" {
  description = "VPC id."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (one per AZ)."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 5432 (the EKS cluster/node security group)."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL major version (minor versions are upgraded automatically)."
  type        = string
  default     = "15"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m7g.large"
}

variable "allocated_storage_gib" {
  description = "Initial storage."
  type        = number
  default     = 50
}

variable "max_allocated_storage_gib" {
  description = "Storage autoscaling ceiling."
  type        = number
  default     = 500
}

variable "database_name" {
  description = "Database created at launch."
  type        = string
  default     = "myhealth"
}

variable "master_username" {
  description = "Master user; its password is generated and kept by RDS in Secrets Manager (never in Terraform state)."
  type        = string
  default     = "myhealth_admin"
}

variable "multi_az" {
  description = "Standby replica in a second AZ."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Automated backup retention."
  type        = number
  default     = 30
}

variable "deletion_protection" {
  description = "Refuse deletion of the instance."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Skip the final snapshot on deletion (never in production)."
  type        = bool
  default     = false
}

variable "performance_insights_retention_days" {
  description = "Performance Insights retention (7 is free)."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
