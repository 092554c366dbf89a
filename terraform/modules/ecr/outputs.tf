output "repository_url" {
  description = "Repository URL (image.repository in the Helm values)."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "Repository ARN."
  value       = aws_ecr_repository.this.arn
}
