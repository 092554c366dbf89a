output "role_arns" {
  description = "IAM role ARN per ServiceAccount component (serviceAccounts.<component>.roleArn)."
  value       = { for k, r in aws_iam_role.this : k => r.arn }
}
