// Package deploy holds the container deployment's config (latchkey.yaml,
// used by the repository's docker-compose.yml and Dockerfile) and the test
// that keeps those files valid: the compose file parses and points at real
// files, and the config it mounts passes `latchkey config check`.
package deploy
