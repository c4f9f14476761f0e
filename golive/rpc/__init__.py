"""golive's users service over gRPC (``golive.users.v1.Users``, docs/grpc.md)."""
