output "cluster_arn" {
  description = "MSK cluster ARN."
  value       = aws_msk_cluster.this.arn
}

output "cluster_name" {
  description = "MSK cluster name."
  value       = aws_msk_cluster.this.cluster_name
}

output "bootstrap_brokers_iam" {
  description = "Bootstrap brokers for SASL/IAM over TLS (port 9098)."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
}

output "bootstrap_brokers_scram" {
  description = "Bootstrap brokers for SASL/SCRAM over TLS (port 9096)."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "topic_arn_prefix" {
  description = "ARN prefix of the cluster's topics (append a topic name or pattern)."
  value       = "${replace(aws_msk_cluster.this.arn, ":cluster/", ":topic/")}/"
}

output "group_arn_prefix" {
  description = "ARN prefix of the cluster's consumer groups."
  value       = "${replace(aws_msk_cluster.this.arn, ":cluster/", ":group/")}/"
}
