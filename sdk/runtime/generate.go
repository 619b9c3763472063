package runtime

// The generated code is committed; regenerate after editing the proto (needs
// protoc, protoc-gen-go and protoc-gen-go-grpc on PATH).
//go:generate protoc -I proto --go_out=paths=source_relative:runtimepb --go-grpc_out=paths=source_relative:runtimepb proto/runtime.proto
