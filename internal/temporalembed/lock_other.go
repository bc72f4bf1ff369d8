//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package temporalembed

// lockFile does nothing on systems without flock; running two servers on one
// database there is the caller's responsibility.
func lockFile(string) (func() error, error) {
	return func() error { return nil }, nil
}
