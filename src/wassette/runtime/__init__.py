"""The only package that calls wasmtime: turns capabilities into a sandbox and runs calls."""
