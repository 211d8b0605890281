package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lianmeng/lianmeng/sdk/earning"
	"github.com/lianmeng/lianmeng/sdk/internal/convert"
	"github.com/lianmeng/lianmeng/sdk/internal/pb"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/pos"
)

func serve(p Plugins) {
	// A plugin must not outlive the gateway. Pdeathsig covers Linux when the
	// gateway sets it; this covers everything else and re-parented children.
	go watchParent(os.Getppid(), time.Second)

	set := plugin.PluginSet{}
	if p.EarningRule != nil {
		set[KindEarningRule] = &serverPlugin{register: func(s *grpc.Server) {
			pb.RegisterEarningRuleServer(s, &earningServer{def: p.EarningRule, instances: newInstances[earning.Rule]()})
		}}
	}
	if p.POSAdapter != nil {
		set[KindPOSAdapter] = &serverPlugin{register: func(s *grpc.Server) {
			pb.RegisterPOSAdapterServer(s, &posServer{def: p.POSAdapter, instances: newInstances[pos.Adapter]()})
		}}
	}
	if p.PaymentChannel != nil {
		set[KindPaymentChannel] = &serverPlugin{register: func(s *grpc.Server) {
			pb.RegisterPaymentChannelServer(s, &paymentServer{def: p.PaymentChannel, instances: newInstances[payment.Channel]()})
		}}
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: set},
		GRPCServer:       newGRPCServer,
		Logger:           logger,
	})
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

func watchParent(ppid int, every time.Duration) {
	for range time.Tick(every) {
		if os.Getppid() != ppid {
			logger.Error("gateway process is gone; exiting", "parent_pid", ppid)
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
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

// instances holds the configured instances of one kind, by instance name.
type instances[T any] struct {
	mu sync.RWMutex
	m  map[string]T
}

func newInstances[T any]() *instances[T] { return &instances[T]{m: map[string]T{}} }

func (s *instances[T]) get(name string) (T, error) {
	s.mu.RLock()
	v, ok := s.m[name]
	s.mu.RUnlock()
	if !ok {
		var zero T
		return zero, toStatus(fmt.Errorf("%w: %q", ErrNotConfigured, name))
	}
	return v, nil
}

func (s *instances[T]) put(name string, v T) {
	s.mu.Lock()
	s.m[name] = v
	s.mu.Unlock()
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
	rule, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
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
	a, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	res, err := a.HandleWebhook(ctx, convert.WebhookRequestFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.WebhookResultToPB(res), nil
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
	c, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	res, err := c.CreatePayment(ctx, convert.CreatePaymentFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.CreatePaymentResponseToPB(res), nil
}

func (s *paymentServer) HandleNotification(ctx context.Context, req *pb.HandleNotificationRequest) (*pb.HandleNotificationResponse, error) {
	c, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	n, err := c.HandleNotification(ctx, convert.HTTPRequestFromPB(req.GetRequest()))
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.NotificationToPB(n), nil
}

func (s *paymentServer) Payout(ctx context.Context, req *pb.PayoutRequest) (*pb.PaymentResult, error) {
	c, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	res, err := c.Payout(ctx, convert.PayoutFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.PaymentResultToPB(res), nil
}

func (s *paymentServer) QueryPayout(ctx context.Context, req *pb.QueryPayoutRequest) (*pb.PaymentResult, error) {
	c, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	res, err := c.QueryPayout(ctx, payment.QueryPayoutRequest{TransactionID: req.GetTransactionId(), ChannelReference: req.GetChannelReference()})
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.PaymentResultToPB(res), nil
}

func (s *paymentServer) FetchStatement(ctx context.Context, req *pb.FetchStatementRequest) (*pb.FetchStatementResponse, error) {
	c, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	st, err := c.FetchStatement(ctx, req.GetDate())
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.StatementToPB(st), nil
}

func (s *paymentServer) Refund(ctx context.Context, req *pb.RefundRequest) (*pb.PaymentResult, error) {
	c, err := s.instances.get(req.GetInstance())
	if err != nil {
		return nil, err
	}
	res, err := c.Refund(ctx, convert.RefundFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return convert.PaymentResultToPB(res), nil
}
