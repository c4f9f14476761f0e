"""golive's users service over gRPC: the messages and stubs generated from
proto/golive/users/v1/users.proto by scripts/gen_grpc.sh (never edited by hand)."""
