"""The generated code of the users service's .proto (package golive.users)."""
