output "address" {
  description = "Hostname of the instance (DB_HOST)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port (DB_PORT)."
  value       = aws_db_instance.this.port
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret RDS keeps the master credentials in (for the one-time role setup)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "security_group_id" {
  description = "Security group of the instance."
  value       = aws_security_group.this.id
}
