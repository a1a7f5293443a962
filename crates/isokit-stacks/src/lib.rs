//! The bundled CloudFormation stacks: the templates, the endpoint list they define, the static isolation audit, and the SAM CLI runner.
