//! The AWS settings every isokit command shares (region, profile, endpoint, CA bundle), and the ECR and CloudFormation calls built on them.
