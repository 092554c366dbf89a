output "push_role_arn" {
  description = "Role the build workflow assumes on main (GitHub variable AWS_PUSH_ROLE_ARN)."
  value       = aws_iam_role.push.arn
}

output "deploy_role_arns" {
  description = "Deploy role per environment (GitHub environment variable AWS_DEPLOY_ROLE_ARN)."
  value       = { for k, r in aws_iam_role.deploy : k => r.arn }
}
