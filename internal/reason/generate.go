package reason

//go:generate go run ./gen ../../docs/errors.md
