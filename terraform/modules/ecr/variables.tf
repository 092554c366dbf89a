variable "name" {
  description = "Repository name."
  type        = string
  default     = "myhealth"
}

variable "keep_tagged_images" {
  description = "How many release images (tags sha-*, v*) to keep."
  type        = number
  default     = 100
}

variable "untagged_expiry_days" {
  description = "Days after which untagged images (build cache, superseded manifests) expire."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
