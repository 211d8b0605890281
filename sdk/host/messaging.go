package host

import (
	"context"

	"github.com/lianmeng/lianmeng/sdk/internal/convert"
	"github.com/lianmeng/lianmeng/sdk/internal/pb"
	"github.com/lianmeng/lianmeng/sdk/messaging"
)

// MessageSender returns the configured instance as a messaging.Sender. A
// message the plugin refuses for good (or a request that fails
// messaging.SendRequest.Validate in the plugin) fails with
// sdk.ErrInvalidInput; any other error means the sender is unavailable.
func (c *Client) MessageSender(instance string) messaging.Sender {
	return &senderClient{c: pb.NewMessageSenderClient(c.rpc.Conn), instance: instance}
}

type senderClient struct {
	c        pb.MessageSenderClient
	instance string
}

func (s *senderClient) Send(ctx context.Context, req messaging.SendRequest) (messaging.SendResponse, error) {
	res, err := s.c.Send(ctx, convert.SendRequestToPB(s.instance, req))
	if err != nil {
		return messaging.SendResponse{}, callError("Send", err)
	}
	return convert.SendResponseFromPB(res), nil
}
