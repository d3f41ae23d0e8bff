// Package deploy holds the deployment files and the test that keeps them
// valid: latchkey.yaml (mounted by the repository's docker-compose.yml,
// which runs Latchkey, PostgreSQL and Mailpit with a demo user and client),
// replicas/ (two replicas behind Caddy on one PostgreSQL) and
// latchkey.service (a systemd unit whose reload is SIGHUP). The test parses
// both compose files, checks services, images, environment and
// healthchecks, and runs `config check` on every config they mount; it also
// checks the Dockerfile (multi-stage, cgo, non-root, HEALTHCHECK).
package deploy
