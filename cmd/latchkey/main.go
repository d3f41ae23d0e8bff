// Command latchkey runs the Latchkey identity provider and its admin
// subcommands. It only parses arguments and wires packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"latchkey/config"
)

const usage = `usage: latchkey [--config FILE] COMMAND

commands:
  serve                               run the server
  migrate                             create or upgrade the schema and exit
  user add EMAIL [--password-stdin] [--name NAME] [--verified]
                                      create a user (password: one line on stdin;
                                      without it the user sets one through /recover;
                                      --verified: the admin vouches for the address)
  user list                           list users
  user show EMAIL                     the account, its factors, sessions and last 20 events
  user disable EMAIL                  disable a user and end their sessions
  user enable EMAIL                   let a disabled user sign in again
  user delete EMAIL                   delete a user and all they hold (the address is free again)
  user set-password EMAIL --password-stdin
                                      set the password (one line on stdin); ends sessions
  user unlock EMAIL                   lift a lockout after too many wrong passwords or codes
  user reset-factors EMAIL            remove a user's TOTP, recovery codes and passkeys; end sessions
  audit [--user EMAIL] [--since DURATION] [--json]
                                      security events, newest first
  client list                         list the clients the config defines
  config check                        validate the config; every problem, one a line
  config print-defaults               every key at its default, commented (docs/config.md)
  keys rotate                         add a new signing key
  version                             print the version
  healthcheck                         exit 0 when the server of this config answers /healthz
  COMMAND --help                      help on a command (exit 0)

--config FILE (or LATCHKEY_CONFIG) may stand anywhere; without it the
embedded defaults apply (SQLite in the working directory, sign-up on).
`

// errUsage marks a mistake in the arguments: exit code 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "latchkey:", strings.TrimPrefix(err.Error(), "usage: "))
		fmt.Fprint(os.Stderr, "\n"+usage)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "latchkey:", err)
		os.Exit(1)
	}
}

// splitConfig takes --config FILE / --config=FILE out of args, wherever it
// stands.
func splitConfig(args []string) (path string, rest []string, err error) {
	path = os.Getenv("LATCHKEY_CONFIG")
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--config" || a == "-config":
			if i+1 >= len(args) {
				return "", nil, fmt.Errorf("%w: --config needs a file", errUsage)
			}
			path = args[i+1]
			i++
		case strings.HasPrefix(a, "--config="):
			path = strings.TrimPrefix(a, "--config=")
		default:
			rest = append(rest, a)
		}
	}
	return path, rest, nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	path, args, err := splitConfig(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: a command is required", errUsage)
	}
	if wantsHelp(args) {
		fmt.Fprint(stdout, help(args))
		return nil
	}
	e := &env{configPath: path, stdin: stdin, stdout: stdout, stderr: stderr}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		if err := noArgs(cmd, rest); err != nil {
			return err
		}
		return e.serve(ctx)
	case "migrate":
		if err := noArgs(cmd, rest); err != nil {
			return err
		}
		return e.migrate(ctx)
	case "user":
		return e.user(ctx, rest)
	case "client":
		if len(rest) != 1 || rest[0] != "list" {
			return fmt.Errorf("%w: client: want \"client list\"", errUsage)
		}
		return e.clientList()
	case "config":
		if len(rest) == 1 && rest[0] == "print-defaults" {
			b, err := config.DefaultsYAML()
			if err != nil {
				return err
			}
			_, err = stdout.Write(b)
			return err
		}
		if len(rest) != 1 || rest[0] != "check" {
			return fmt.Errorf("%w: config: want \"config check\" or \"config print-defaults\"", errUsage)
		}
		return e.configCheck()
	case "version":
		if err := noArgs(cmd, rest); err != nil {
			return err
		}
		fmt.Fprintln(stdout, versionString())
		return nil
	case "audit":
		return e.audit(ctx, rest)
	case "healthcheck":
		if err := noArgs(cmd, rest); err != nil {
			return err
		}
		return e.healthcheck(ctx)
	case "keys":
		if len(rest) != 1 || rest[0] != "rotate" {
			return fmt.Errorf("%w: keys: want \"keys rotate\"", errUsage)
		}
		return e.keysRotate(ctx)
	default:
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}

func noArgs(cmd string, rest []string) error {
	if len(rest) > 0 {
		return fmt.Errorf("%w: %s takes no arguments (got %q)", errUsage, cmd, rest[0])
	}
	return nil
}
