"""The shared stack's templates (shared.yaml, deploy-role.yaml) and the little code that reads them offline."""
