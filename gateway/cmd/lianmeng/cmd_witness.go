package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/internal/keyfile"
	"github.com/lianmeng/lianmeng/gateway/witness"
)

func init() {
	register(newWitnessCommand)
}

type witnessOptions struct {
	listen, dir, name string
	logs              []string
}

func newWitnessCommand() *cobra.Command {
	var o witnessOptions
	c := &cobra.Command{
		Use:   "witness --name NAME --log ORIGIN=PUBLIC_KEY.pem [flags]",
		Short: "run a transparency-log witness that cosigns the gateway's checkpoints",
		Long: `witness serves the C2SP tlog-witness protocol (POST /add-checkpoint) for
Lianmeng evidence logs (docs/evidence.md §14). For each log (--log origin=the
log's checkpoint-sm2.pub) it keeps the latest checkpoint it cosigned in
--dir, and cosigns a new one only if the log's key signed it and a
consistency proof shows it extends that one: it never cosigns a smaller or
an inconsistent checkpoint, across restarts too. Refused requests are kept
in --dir/refused as evidence. GET /checkpoint?origin=… answers the latest
cosigned checkpoint, for lianmeng verify --checkpoint.

Its Ed25519 key is --dir/witness-ed25519.key (generated on first start);
the verifier key printed at start goes into the gateway's
evidence.witnesses. Run it on a machine the log's operator does not
control: a witness is only as independent as whoever runs it.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runWitness(ctx, o, c.OutOrStdout(), nil)
		},
	}
	c.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8091", "address to listen on")
	c.Flags().StringVar(&o.dir, "dir", "witness", "state directory (key, latest cosigned checkpoints, refused requests)")
	c.Flags().StringVar(&o.name, "name", "", "the witness's key name, e.g. association.example/witness (required)")
	c.Flags().StringArrayVar(&o.logs, "log", nil, "a log to witness: ORIGIN=path of its checkpoint public key PEM (repeatable, required)")
	return c
}

// runWitness runs the witness until ctx ends; ready, if not nil, receives
// the listening address.
func runWitness(ctx context.Context, o witnessOptions, stdout io.Writer, ready chan<- string) error {
	if o.name == "" || len(o.logs) == 0 {
		return errors.New("witness: --name and at least one --log ORIGIN=PUBLIC_KEY.pem are required")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var logs []witness.Log
	for _, spec := range o.logs {
		origin, path, ok := strings.Cut(spec, "=")
		if !ok || origin == "" {
			return fmt.Errorf("witness: --log %q: want ORIGIN=PUBLIC_KEY.pem", spec)
		}
		pemBytes, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("witness: --log %s: %w", origin, err)
		}
		pub, err := evidence.ParsePublicKeyPEM(pemBytes)
		if err != nil {
			return fmt.Errorf("witness: --log %s: %w", origin, err)
		}
		logs = append(logs, witness.Log{Origin: origin, Key: pub})
	}
	key, generated, err := witnessKey(o.dir)
	if err != nil {
		return err
	}
	w, err := witness.New(o.name, key, logs, o.dir, nil)
	if err != nil {
		return err
	}
	if generated {
		log.Warn("generated the witness key; keep --dir safe and backed up: a witness that loses its state must be retired under a new name, never restarted empty", "dir", o.dir)
	}
	fmt.Fprintln(stdout, "witness verifier key (evidence.witnesses[].key):", w.VerifierKey())
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("witness: listen: %w", err)
	}
	srv := &http.Server{Handler: w.Handler(log), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("witness listening", "addr", ln.Addr().String(), "name", o.name, "logs", len(logs))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// witnessKey reads dir/witness-ed25519.key (the base64 seed), or creates it.
func witnessKey(dir string) (ed25519.PrivateKey, bool, error) {
	path := filepath.Join(dir, "witness-ed25519.key")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("witness: %w", err)
	}
	generated := false
	b, err := keyfile.ReadPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, false, err
		}
		if generated, err = keyfile.WriteExclusive(path, []byte(base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600); err != nil {
			return nil, false, fmt.Errorf("witness: write key: %w", err)
		}
		b, err = keyfile.ReadPrivate(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("witness: key: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, false, fmt.Errorf("witness: %s is not a base64 Ed25519 seed", path)
	}
	return ed25519.NewKeyFromSeed(seed), generated, nil
}
