"""The test suite as a regular package: a dependency that ships a top-level ``tests``
package of its own (sippy does) must not shadow this one."""
