// Package host is the gateway's side of the plugin protocol: it launches a
// plugin binary exactly as the gateway does (handshake, AutoMTLS, checksum,
// clean environment, message limits) and gives typed clients for each kind.
//
// A pinned binary is never executed by its configured path. Start copies it
// into a fresh private directory (os.MkdirTemp: mode 0700, owned by the
// gateway's user), hashing the bytes as it writes them, refuses the copy if
// its SHA-256 differs from the pin, makes it read-only (0500) and executes
// the copy; the copy is deleted as soon as the process has started (the
// running process keeps its inode). Checking one file and then executing a
// path would let a rename between the two run an unpinned binary; here the
// bytes hashed are the bytes executed, and nobody but the gateway's own user
// can change them in between. go-plugin's SecureConfig is not used: it also
// checks by path.
//
// It has no supervision: a Client is one process, and once it exits it
// stays dead (go-plugin never restarts). gateway/pluginhost adds restarts,
// health checks, deadlines and circuit breaking on top; sdk/plugintest uses
// this package directly so authors test through the same code path.
package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/internal/pb"
)

// ErrIncompatible is returned when the plugin and the gateway share no
// protocol version, or the plugin is not a Lianmeng plugin at all.
var ErrIncompatible = errors.New("incompatible plugin")

// ErrChecksum is returned when the binary does not match its pinned SHA-256.
var ErrChecksum = errors.New("plugin checksum mismatch")

// BaseEnv are the host environment variables every plugin gets: harmless
// process basics. Anything else must be allowed explicitly.
var BaseEnv = []string{"PATH", "TMPDIR", "TZ", "LANG", "LC_ALL"}

// DefaultStartTimeout bounds the handshake.
const DefaultStartTimeout = 10 * time.Second

// Config says how to launch one plugin process.
type Config struct {
	// Path of the executable and its arguments (for a builtin, the gateway
	// binary and "plugin serve NAME").
	Path string
	Args []string
	// SHA256 pins the executable: Start runs a private copy of exactly the
	// bytes it hashed (see the package documentation). Empty skips the check
	// and runs Path itself, which only callers that built the binary
	// themselves (tests), or that run an image nobody can swap (the gateway's
	// own /proc/self/exe), should do.
	SHA256 []byte
	// CopyDir is where the private copy of a pinned executable is made
	// ["" = os.TempDir(), i.e. $TMPDIR or /tmp]. Its file system must allow
	// execution (not mounted noexec).
	CopyDir string
	// Argv0 is the plugin's argv[0] [Path]. The process runs the private
	// copy, but ps and the plugin's os.Args[0] show this.
	Argv0 string
	// Env is the complete environment beyond BaseEnv, as KEY=VALUE. The
	// host environment is never inherited.
	Env []string
	// Logger receives the plugin's own log lines and go-plugin's. Nil
	// discards them.
	Logger       hclog.Logger
	StartTimeout time.Duration
}

// Client is one running plugin process.
type Client struct {
	pc     *plugin.Client
	rpc    *plugin.GRPCClient
	stderr *tail
	// copyDir is the private copy's directory if it could not be removed
	// once the process started (Windows keeps a running executable); Kill
	// removes it.
	copyDir string
}

// ParseSHA256 decodes a hex checksum.
func ParseSHA256(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("sha256 %q: want %d hex digits", s, 2*sha256.Size)
	}
	return b, nil
}

// FileSHA256 returns the SHA-256 of a file.
func FileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// Start launches the plugin and completes the handshake.
func Start(cfg Config) (*Client, error) {
	if cfg.Path == "" {
		return nil, errors.New("plugin path is empty")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	exe, copyDir := cfg.Path, ""
	if len(cfg.SHA256) > 0 {
		var err error
		if exe, copyDir, err = pinnedCopy(cfg.Path, cfg.SHA256, cfg.CopyDir); err != nil {
			return nil, err
		}
	}
	// The copy is removed once the process has started (or failed to): a
	// running executable needs no name. Where the OS refuses that, Kill
	// removes it.
	removeCopy := func() string {
		if copyDir != "" && os.RemoveAll(copyDir) != nil {
			return copyDir
		}
		return ""
	}

	cmd := exec.Command(exe, cfg.Args...)
	cmd.Args[0] = cfg.Path
	if cfg.Argv0 != "" {
		cmd.Args[0] = cfg.Argv0
	}
	cmd.Env = append(baseEnv(), cfg.Env...)
	if !hasEnv(cfg.Env, "GOMAXPROCS") {
		// A plugin answers one short call at a time per request; with a
		// single P its goroutines hand off without cross-CPU wake-ups, which
		// cut the median Evaluate round trip from about 210 µs to 145 µs on a
		// 2-core machine, and it never competes with the gateway for more
		// than one core. A plugin's Env may set its own value.
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	}
	setDeathSignal(cmd)
	tl := &tail{max: 4096}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{sdk.ProtocolVersion: pluginSetV1()},
		Cmd:              cmd,
		AutoMTLS:         true,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     cfg.StartTimeout,
		Logger:           logger,
		Stderr:           tl, // keeps the last lines for start-up errors
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(sdk.MaxMessageBytes),
			grpc.MaxCallSendMsgSize(sdk.MaxMessageBytes),
		)},
	})
	proto, err := pc.Client()
	left := removeCopy()
	if err != nil {
		pc.Kill()
		if left != "" {
			os.RemoveAll(left)
		}
		if copyDir != "" && errors.Is(err, os.ErrPermission) {
			err = fmt.Errorf("%w (the private copy could not be executed: is %s mounted noexec? set Config.CopyDir or $TMPDIR to a directory that allows exec)", err, filepath.Dir(copyDir))
		}
		return nil, startError(cfg.Path, err, tl.String())
	}
	rpc, ok := proto.(*plugin.GRPCClient)
	if !ok {
		pc.Kill()
		if left != "" {
			os.RemoveAll(left)
		}
		return nil, fmt.Errorf("%w: %s does not speak gRPC", ErrIncompatible, cfg.Path)
	}
	return &Client{pc: pc, rpc: rpc, stderr: tl, copyDir: left}, nil
}

// testHookCopied, if set, runs after a pinned binary's private copy has
// been verified and before it is executed (tests swap the original then).
var testHookCopied func(src, copy string)

// pinnedCopy copies src into a new private directory under dir, hashing the
// bytes as they are written, and returns the copy's path and directory once
// its SHA-256 is want. The copy is 0500 in a 0700 directory: only the
// gateway's own user (who could as well change the gateway) can touch it
// before it is executed.
func pinnedCopy(src string, want []byte, dir string) (exe, copyDir string, err error) {
	if fi, err := os.Stat(src); err != nil {
		return "", "", fmt.Errorf("plugin %s: %w", src, err)
	} else if !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("plugin %s: not a regular file", src)
	}
	in, err := os.Open(src)
	if err != nil {
		return "", "", fmt.Errorf("plugin %s: %w", src, err)
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil {
		return "", "", fmt.Errorf("plugin %s: %w", src, err)
	} else if !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("plugin %s: not a regular file", src)
	}
	private, err := os.MkdirTemp(dir, "lianmeng-plugin-")
	if err != nil {
		return "", "", fmt.Errorf("plugin %s: private copy: %w", src, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(private)
		}
	}()
	exe = filepath.Join(private, filepath.Base(src))
	sum, err := writeCopy(in, exe)
	if err != nil {
		return "", "", fmt.Errorf("plugin %s: private copy: %w", src, err)
	}
	if !bytes.Equal(sum, want) {
		return "", "", fmt.Errorf("%w: %s has sha256 %x, configuration pins %x; refusing to start it", ErrChecksum, src, sum, want)
	}
	if err := os.Chmod(exe, 0o500); err != nil {
		return "", "", fmt.Errorf("plugin %s: private copy: %w", src, err)
	}
	if testHookCopied != nil {
		testHookCopied(src, exe)
	}
	return exe, private, nil
}

// writeCopy writes r to a new file at path and returns the SHA-256 of the
// bytes written. While the file is open for writing no process is forked:
// a child inheriting the descriptor until its own exec would make the exec
// of the copy fail with ETXTBSY ("text file busy"), as plugins start
// concurrently. (syscall.ForkLock is the standard library's lock for this.)
func writeCopy(r io.Reader, path string) ([]byte, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func startError(path string, err error, stderr string) error {
	msg := err.Error()
	var hint string
	switch {
	case strings.Contains(msg, "incompatible API version"), strings.Contains(msg, "incompatible core API version"):
		return fmt.Errorf("%w: %s: %s: the gateway speaks plugin protocol %d; rebuild the plugin with a matching SDK", ErrIncompatible, path, msg, sdk.ProtocolVersion)
	case strings.Contains(stderr, "This binary is a plugin"):
		// go-plugin's words for a cookie mismatch.
		hint = "the plugin rejected the handshake's magic cookie: it is not a Lianmeng plugin, or was built for another application"
	case strings.Contains(msg, "Failed to read any lines"), strings.Contains(msg, "exited before we could connect"):
		hint = "the plugin exited before the handshake: wrong magic cookie (not a Lianmeng plugin), or it failed at start-up"
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		hint = "the plugin wrote to stdout before the handshake (stdout is reserved for it), or is not a Lianmeng plugin"
	}
	if hint != "" {
		// go-plugin appends a long generic diagnosis; the hint replaces it.
		msg, _, _ = strings.Cut(msg, "This usually means")
		err = fmt.Errorf("%w: %s: %s (%s)", ErrIncompatible, path, hint, oneLine(msg))
	} else {
		err = fmt.Errorf("start plugin %s: %w", path, err)
	}
	if stderr = strings.TrimSpace(stderr); stderr != "" {
		err = fmt.Errorf("%w; plugin stderr: %s", err, stderr)
	}
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

func baseEnv() []string {
	var env []string
	for _, k := range BaseEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Pid returns the plugin's process id, or 0.
func (c *Client) Pid() int {
	if rc := c.pc.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// ProtocolVersion returns the negotiated protocol major.
func (c *Client) ProtocolVersion() int { return c.pc.NegotiatedVersion() }

// Exited reports whether the process has exited.
func (c *Client) Exited() bool { return c.pc.Exited() }

// Kill stops the plugin: a graceful shutdown request, then SIGKILL after a
// short grace period.
func (c *Client) Kill() {
	c.pc.Kill()
	if c.copyDir != "" {
		os.RemoveAll(c.copyDir)
	}
}

// Ping checks the plugin's gRPC health service within ctx.
func (c *Client) Ping(ctx context.Context) error {
	_, err := grpc_health_v1.NewHealthClient(c.rpc.Conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	return nil
}

// Description is what a plugin says about itself.
type Description struct {
	Kind string `json:"kind"`
	sdk.Info
	SDKVersion      string `json:"sdk_version"`
	ProtocolVersion int    `json:"protocol_version"`
}

// Describe asks the plugin what it is, as a plugin of the given kind.
func (c *Client) Describe(ctx context.Context, kind string) (Description, error) {
	var (
		d   *pb.Description
		err error
	)
	switch kind {
	case sdk.KindEarningRule:
		d, err = pb.NewEarningRuleClient(c.rpc.Conn).Describe(ctx, &pb.DescribeRequest{})
	case sdk.KindPOSAdapter:
		d, err = pb.NewPOSAdapterClient(c.rpc.Conn).Describe(ctx, &pb.DescribeRequest{})
	case sdk.KindPaymentChannel:
		d, err = pb.NewPaymentChannelClient(c.rpc.Conn).Describe(ctx, &pb.DescribeRequest{})
	case sdk.KindMessageSender:
		d, err = pb.NewMessageSenderClient(c.rpc.Conn).Describe(ctx, &pb.DescribeRequest{})
	default:
		return Description{}, fmt.Errorf("unknown plugin kind %q", kind)
	}
	if status.Code(err) == codes.Unimplemented {
		return Description{}, fmt.Errorf("%w: the plugin does not serve kind %s", ErrIncompatible, kind)
	}
	if err != nil {
		return Description{}, callError("Describe", err)
	}
	out := Description{Kind: d.GetKind(), SDKVersion: d.GetSdkVersion(), ProtocolVersion: int(d.GetProtocolVersion()),
		Info: sdk.Info{Name: d.GetName(), Version: d.GetVersion(), Summary: d.GetSummary(), Capabilities: d.GetCapabilities()}}
	if s := d.GetConfigSchemaJson(); s != "" {
		out.ConfigSchema = json.RawMessage(s)
	}
	return out, nil
}

// Configure creates (or replaces) the named instance from a JSON config.
func (c *Client) Configure(ctx context.Context, kind, instance string, config []byte) error {
	req := &pb.ConfigureRequest{Instance: instance, ConfigJson: config}
	var err error
	switch kind {
	case sdk.KindEarningRule:
		_, err = pb.NewEarningRuleClient(c.rpc.Conn).Configure(ctx, req)
	case sdk.KindPOSAdapter:
		_, err = pb.NewPOSAdapterClient(c.rpc.Conn).Configure(ctx, req)
	case sdk.KindPaymentChannel:
		_, err = pb.NewPaymentChannelClient(c.rpc.Conn).Configure(ctx, req)
	case sdk.KindMessageSender:
		_, err = pb.NewMessageSenderClient(c.rpc.Conn).Configure(ctx, req)
	default:
		return fmt.Errorf("unknown plugin kind %q", kind)
	}
	return callError("Configure", err)
}

// callError maps a gRPC status back to the SDK's error kinds; anything else
// stays a gRPC status error (errors.Is / status.Code still work).
func callError(method string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("plugin %s: %w", method, err)
	}
	switch st.Code() {
	case codes.InvalidArgument:
		return fmt.Errorf("plugin %s: %w: %s", method, sdk.ErrInvalidInput, trimPrefix(st.Message(), sdk.ErrInvalidInput))
	case codes.FailedPrecondition:
		return fmt.Errorf("plugin %s: %w: %s", method, sdk.ErrInvalidConfig, trimPrefix(st.Message(), sdk.ErrInvalidConfig))
	case codes.NotFound:
		return fmt.Errorf("plugin %s: %w: %s", method, sdk.ErrNotConfigured, st.Message())
	case codes.Unimplemented:
		return fmt.Errorf("plugin %s: %w: %s", method, sdk.ErrUnimplemented, trimPrefix(st.Message(), sdk.ErrUnimplemented))
	}
	return fmt.Errorf("plugin %s: %w", method, err)
}

func trimPrefix(msg string, err error) string {
	return strings.TrimPrefix(msg, err.Error()+": ")
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
