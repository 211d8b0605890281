package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/internal/convert"
	"github.com/lianmeng/lianmeng/sdk/internal/pb"
	"github.com/lianmeng/lianmeng/sdk/messaging"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/pos"
)

// closeGrace bounds how long a stopping plugin waits for calls in progress
// before closing the instances they use. The host kills a plugin 2 s after
// asking it to stop, and Close needs some of that time too.
const closeGrace = time.Second

func serve(p Plugins) {
	var stores []interface{ closeAll(time.Duration) }
	set := plugin.PluginSet{}
	if p.EarningRule != nil {
		insts := newInstances[earning.Rule](KindEarningRule)
		stores = append(stores, insts)
		set[KindEarningRule] = &serverPlugin{register: func(s *grpc.Server) {
			pb.RegisterEarningRuleServer(s, &earningServer{def: p.EarningRule, instances: insts})
		}}
	}
	if p.POSAdapter != nil {
		insts := newInstances[pos.Adapter](KindPOSAdapter)
		stores = append(stores, insts)
		set[KindPOSAdapter] = &serverPlugin{register: func(s *grpc.Server) {
			pb.RegisterPOSAdapterServer(s, &posServer{def: p.POSAdapter, instances: insts})
		}}
	}
	if p.PaymentChannel != nil {
		insts := newInstances[payment.Channel](KindPaymentChannel)
		stores = append(stores, insts)
		set[KindPaymentChannel] = &serverPlugin{register: func(s *grpc.Server) {
			pb.RegisterPaymentChannelServer(s, &paymentServer{def: p.PaymentChannel, instances: insts})
		}}
	}
	if p.MessageSender != nil {
		insts := newInstances[messaging.Sender](KindMessageSender)
		stores = append(stores, insts)
		set[KindMessageSender] = &serverPlugin{register: func(s *grpc.Server) {
			pb.RegisterMessageSenderServer(s, &senderServer{def: p.MessageSender, instances: insts})
		}}
	}
	// closeInstances runs once, however the process stops: the gateway
	// asked (plugin.Serve returns), SIGTERM, or the gateway died.
	closeInstances := sync.OnceFunc(func() {
		for _, s := range stores {
			s.closeAll(closeGrace)
		}
	})

	var (
		mu  sync.Mutex
		srv *grpc.Server
	)
	newServer := func(opts []grpc.ServerOption) *grpc.Server {
		s := newGRPCServer(opts)
		mu.Lock()
		srv = s
		mu.Unlock()
		return s
	}
	// SIGTERM stops serving the way the gateway's own shutdown request
	// does, so instances are closed and Serve returns to main.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		<-sigs
		logger.Info("SIGTERM: stopping")
		mu.Lock()
		s := srv
		mu.Unlock()
		if s == nil { // not serving yet, so nothing to close
			os.Exit(128 + 15) // as if SIGTERM had killed it
		}
		s.Stop()
	}()

	// A plugin must not outlive the gateway. Pdeathsig covers Linux when the
	// gateway sets it; this covers everything else and re-parented children.
	go watchParent(os.Getppid(), time.Second, closeInstances)

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: set},
		GRPCServer:       newServer,
		Logger:           logger,
	})
	closeInstances()
}

func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.ChainUnaryInterceptor(recoverUnary),
		// Reuse handler goroutines instead of one new goroutine per call.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	)
	return grpc.NewServer(opts...)
}

// recoverUnary turns a panic in a handler into a failed call, so one bad
// input does not take the whole plugin (and every merchant on it) down.
func recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			logger.Error("panic in plugin call", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "plugin panicked in %s: %v", info.FullMethod, r)
		}
	}()
	return handler(ctx, req)
}

func watchParent(ppid int, every time.Duration, cleanup func()) {
	for range time.Tick(every) {
		if os.Getppid() != ppid {
			logger.Error("gateway process is gone; exiting", "parent_pid", ppid)
			cleanup()
			os.Exit(2)
		}
	}
}

// serverPlugin is the plugin side of a go-plugin GRPCPlugin.
type serverPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	register func(*grpc.Server)
}

func (p *serverPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	p.register(s)
	return nil
}

func (p *serverPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("sdk: the plugin side has no client")
}

// toStatus maps an author's error to a gRPC status the host understands.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, ErrInvalidInput):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrInvalidConfig):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, ErrNotConfigured):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrUnimplemented):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

// instances holds the configured instances of one kind, by instance name.
//
// An instance that implements io.Closer is closed once it can no longer be
// called: when Configure replaces it under the same name, or when the
// process stops (closeAll). Calls hold a reference (get returns a release
// function), so a replaced instance is closed after the calls already using
// it return, never under them.
type instances[T any] struct {
	kind    string
	mu      sync.Mutex
	m       map[string]*instance[T]
	stopped bool // closeAll ran: nothing may be stored any more
}

type instance[T any] struct {
	name    string
	v       T
	refs    int    // calls in progress; guarded by instances.mu
	dropped string // why it was dropped: "replaced" or "stopping"; guarded by instances.mu
	once    sync.Once
	closed  chan struct{} // closed after Close returned (or was not needed)
}

func newInstances[T any](kind string) *instances[T] {
	return &instances[T]{kind: kind, m: map[string]*instance[T]{}}
}

// get returns the named instance and a function the caller must call when
// its call is over.
func (s *instances[T]) get(name string) (T, func(), error) {
	s.mu.Lock()
	in, ok := s.m[name]
	if ok {
		in.refs++
	}
	s.mu.Unlock()
	if !ok {
		var zero T
		return zero, func() {}, toStatus(fmt.Errorf("%w: %q", ErrNotConfigured, name))
	}
	return in.v, func() { s.release(in) }, nil
}

func (s *instances[T]) release(in *instance[T]) {
	s.mu.Lock()
	in.refs--
	last := in.dropped != "" && in.refs == 0
	why := in.dropped
	s.mu.Unlock()
	if last {
		s.close(in, why)
	}
}

// put stores v under name and closes the instance it replaces, at once if
// it is idle or else when its last call returns.
func (s *instances[T]) put(name string, v T) {
	in := &instance[T]{name: name, v: v, closed: make(chan struct{})}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		s.close(in, "stopping")
		return
	}
	old := s.m[name]
	s.m[name] = in
	idle := false
	if old != nil {
		old.dropped = "replaced"
		idle = old.refs == 0
	}
	s.mu.Unlock()
	if idle {
		s.close(old, "replaced")
	}
}

// closeAll drops every instance and closes each one, waiting up to grace
// for calls still using one to return (after that it is closed anyway: the
// process is stopping).
func (s *instances[T]) closeAll(grace time.Duration) {
	s.mu.Lock()
	s.stopped = true
	var idle, busy []*instance[T]
	for name, in := range s.m {
		delete(s.m, name)
		in.dropped = "stopping"
		if in.refs == 0 {
			idle = append(idle, in)
		} else {
			busy = append(busy, in)
		}
	}
	s.mu.Unlock()
	for _, in := range idle {
		s.close(in, "stopping")
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	expired := false
	for _, in := range busy {
		if !expired {
			select {
			case <-in.closed: // its last call returned and closed it
				continue
			case <-deadline.C:
				expired = true
			}
		}
		s.close(in, "stopping")
	}
}

// close calls the instance's Close once, if it has one. A failing or
// panicking Close is logged: the instance is gone either way.
func (s *instances[T]) close(in *instance[T], why string) {
	in.once.Do(func() {
		defer close(in.closed)
		c, ok := any(in.v).(io.Closer)
		if !ok {
			return
		}
		defer func() {
			if r := recover(); r != nil {
				logger.Error("panic closing plugin instance", "kind", s.kind, "instance", in.name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			}
		}()
		if err := c.Close(); err != nil {
			logger.Error("closing plugin instance failed", "kind", s.kind, "instance", in.name, "reason", why, "error", err)
		}
	})
}

func describePB(kind string, info Info) *pb.Description {
	return &pb.Description{Name: info.Name, Version: info.Version, Kind: kind, ConfigSchemaJson: string(info.ConfigSchema),
		Capabilities: info.Capabilities, Summary: info.Summary, SdkVersion: Version, ProtocolVersion: ProtocolVersion}
}

// configure runs a factory, treating any failure as a configuration error
// unless the factory said otherwise.
func configure[T any](ctx context.Context, insts *instances[T], req *pb.ConfigureRequest, New func(context.Context, []byte) (T, error)) (*pb.ConfigureResponse, error) {
	cfg := req.GetConfigJson()
	if len(cfg) == 0 {
		cfg = []byte("{}")
	}
	v, err := New(ctx, cfg)
	if err != nil {
		if !errors.Is(err, ErrInvalidConfig) && ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		return nil, toStatus(err)
	}
	insts.put(req.GetInstance(), v)
	return &pb.ConfigureResponse{}, nil
}

type earningServer struct {
	pb.UnimplementedEarningRuleServer
	def       *EarningRule
	instances *instances[earning.Rule]
}

func (s *earningServer) Describe(context.Context, *pb.DescribeRequest) (*pb.Description, error) {
	return describePB(KindEarningRule, s.def.Info), nil
}

func (s *earningServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	return configure(ctx, s.instances, req, s.def.New)
}

func (s *earningServer) Evaluate(ctx context.Context, req *pb.EvaluateRequest) (*pb.EvaluateResponse, error) {
	rule, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	r := convert.EvaluateRequestFromPB(req)
	if err := r.Purchase.Validate(); err != nil {
		return nil, toStatus(fmt.Errorf("%w: %w", ErrInvalidInput, err))
	}
	b, err := rule.Evaluate(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.BreakdownToPB(b), nil
}

type posServer struct {
	pb.UnimplementedPOSAdapterServer
	def       *POSAdapter
	instances *instances[pos.Adapter]
}

func (s *posServer) Describe(context.Context, *pb.DescribeRequest) (*pb.Description, error) {
	return describePB(KindPOSAdapter, s.def.Info), nil
}

func (s *posServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	return configure(ctx, s.instances, req, s.def.New)
}

func (s *posServer) HandleWebhook(ctx context.Context, req *pb.HandleWebhookRequest) (*pb.HandleWebhookResponse, error) {
	a, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := a.HandleWebhook(ctx, convert.WebhookRequestFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.WebhookResultToPB(res), nil
}

// Poll serves an adapter that is also a pos.Poller; any other answers
// Unimplemented.
func (s *posServer) Poll(ctx context.Context, req *pb.PollRequest) (*pb.PollResponse, error) {
	a, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	p, ok := a.(pos.Poller)
	if !ok {
		return nil, toStatus(ErrUnimplemented)
	}
	res, err := p.Poll(ctx, convert.PollRequestFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.PollResultToPB(res), nil
}

type paymentServer struct {
	pb.UnimplementedPaymentChannelServer
	def       *PaymentChannel
	instances *instances[payment.Channel]
}

func (s *paymentServer) Describe(context.Context, *pb.DescribeRequest) (*pb.Description, error) {
	return describePB(KindPaymentChannel, s.def.Info), nil
}

func (s *paymentServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	return configure(ctx, s.instances, req, s.def.New)
}

func (s *paymentServer) CreatePayment(ctx context.Context, req *pb.CreatePaymentRequest) (*pb.CreatePaymentResponse, error) {
	c, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := c.CreatePayment(ctx, convert.CreatePaymentFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.CreatePaymentResponseToPB(res), nil
}

func (s *paymentServer) HandleNotification(ctx context.Context, req *pb.HandleNotificationRequest) (*pb.HandleNotificationResponse, error) {
	c, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	n, err := c.HandleNotification(ctx, convert.HTTPRequestFromPB(req.GetRequest()))
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.NotificationToPB(n), nil
}

func (s *paymentServer) Payout(ctx context.Context, req *pb.PayoutRequest) (*pb.PaymentResult, error) {
	c, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := c.Payout(ctx, convert.PayoutFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.PaymentResultToPB(res), nil
}

func (s *paymentServer) QueryPayout(ctx context.Context, req *pb.QueryPayoutRequest) (*pb.PaymentResult, error) {
	c, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := c.QueryPayout(ctx, payment.QueryPayoutRequest{TransactionID: req.GetTransactionId(), ChannelReference: req.GetChannelReference()})
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.PaymentResultToPB(res), nil
}

func (s *paymentServer) FetchStatement(ctx context.Context, req *pb.FetchStatementRequest) (*pb.FetchStatementResponse, error) {
	c, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	st, err := c.FetchStatement(ctx, req.GetDate())
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.StatementToPB(st), nil
}

func (s *paymentServer) Refund(ctx context.Context, req *pb.RefundRequest) (*pb.PaymentResult, error) {
	c, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := c.Refund(ctx, convert.RefundFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.PaymentResultToPB(res), nil
}

// QueryPayment answers UNIMPLEMENTED for a channel that is not a
// payment.Querier, exactly as a plugin built before the call existed does.
func (s *paymentServer) QueryPayment(ctx context.Context, req *pb.QueryPaymentRequest) (*pb.PaymentResult, error) {
	c, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	q, ok := c.(payment.Querier)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "%s: payment channel %s cannot query payments", ErrUnimplemented, s.def.Info.Name)
	}
	res, err := q.QueryPayment(ctx, payment.QueryPaymentRequest{TransactionID: req.GetTransactionId(), ChannelReference: req.GetChannelReference()})
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.PaymentResultToPB(res), nil
}

// ExchangeLoginCode answers UNIMPLEMENTED for a channel that is not a
// payment.LoginExchanger.
func (s *paymentServer) ExchangeLoginCode(ctx context.Context, req *pb.ExchangeLoginCodeRequest) (*pb.ExchangeLoginCodeResponse, error) {
	c, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	x, ok := c.(payment.LoginExchanger)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "%s: payment channel %s has no mini-program login", ErrUnimplemented, s.def.Info.Name)
	}
	id, err := x.ExchangeLoginCode(ctx, payment.LoginRequest{Code: req.GetCode()})
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.LoginIdentityToPB(id), nil
}

type senderServer struct {
	pb.UnimplementedMessageSenderServer
	def       *MessageSender
	instances *instances[messaging.Sender]
}

func (s *senderServer) Describe(context.Context, *pb.DescribeRequest) (*pb.Description, error) {
	return describePB(KindMessageSender, s.def.Info), nil
}

func (s *senderServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	return configure(ctx, s.instances, req, s.def.New)
}

func (s *senderServer) Send(ctx context.Context, req *pb.SendRequest) (*pb.SendResponse, error) {
	sender, release, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	defer release()
	r := convert.SendRequestFromPB(req)
	if err := r.Validate(); err != nil {
		return nil, toStatus(fmt.Errorf("%w: %w", ErrInvalidInput, err))
	}
	res, err := sender.Send(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.SendResponseToPB(res), nil
}
