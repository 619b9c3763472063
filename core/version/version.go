// Package version is the build's version, shared by skiffd, skiffctl and
// the plugins. Release builds set it with -ldflags -X.
package version

var (
	// Version is the skiff release, e.g. "v0.1.0".
	Version = "v0.1.0-dev"
	// GitCommit is the commit the build was made from.
	GitCommit = "unknown"
)
