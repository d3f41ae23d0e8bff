package provider

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/ory/fosite"

	"latchkey/config"
	"latchkey/login"
)

// Client is a relying party from the config.
type Client struct {
	fosite.DefaultClient
	Name                   string
	MinACR                 login.Level
	SkipConsent            bool
	StepUpMaxAge           time.Duration
	RemembersBrowser       bool
	PostLogoutRedirectURIs []string
	BackchannelLogoutURI   string
}

// GetResponseModes lets every client receive its code by query or by
// form_post (fosite asks this for any response_mode other than the default).
func (c *Client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery, fosite.ResponseModeFormPost}
}

var _ fosite.ResponseModeClient = (*Client)(nil)

// Clients is the fixed set of clients the config defines.
type Clients struct {
	byID  map[string]*Client
	order []*Client
}

// NewClients builds the client set; secrets are kept only as SHA-256
// digests (see secretHasher).
func NewClients(cfg []config.Client) (*Clients, error) {
	cs := &Clients{byID: map[string]*Client{}}
	for _, c := range cfg {
		lvl, err := login.ParseLevel(c.MinACR)
		if err != nil {
			return nil, err
		}
		cl := &Client{
			DefaultClient: fosite.DefaultClient{
				ID:            c.ID,
				RedirectURIs:  withEmptyPathVariants(c.RedirectURIs),
				GrantTypes:    c.GrantTypes,
				ResponseTypes: []string{"code"},
				Scopes:        c.Scopes,
				Public:        c.Public,
			},
			Name: c.Name, MinACR: lvl, SkipConsent: c.SkipConsent,
			StepUpMaxAge: c.StepUpMaxAge.Duration, RemembersBrowser: c.RemembersBrowser(),
			PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, BackchannelLogoutURI: c.BackchannelLogoutURI,
		}
		if !c.Public {
			sum := sha256.Sum256([]byte(c.Secret))
			cl.Secret = sum[:]
		}
		cs.byID[c.ID] = cl
		cs.order = append(cs.order, cl)
	}
	return cs, nil
}

// Get returns a client by ID.
func (cs *Clients) Get(id string) (*Client, bool) {
	c, ok := cs.byID[id]
	return c, ok
}

// All lists the clients in config order.
func (cs *Clients) All() []*Client { return cs.order }

// Name is the client's display name, for pages.
func (cs *Clients) Name(id string) string {
	if c, ok := cs.byID[id]; ok {
		return c.Name
	}
	return id
}

// secretHasher compares client secrets as SHA-256 digests in constant time.
// Client secrets are high-entropy (config requires 32+ characters), so a
// slow password hash adds ~50 ms per token request and no security.
type secretHasher struct{}

var errSecretMismatch = errors.New("client secret mismatch")

func (secretHasher) Compare(_ context.Context, hash, data []byte) error {
	sum := sha256.Sum256(data)
	if len(hash) != len(sum) || subtle.ConstantTimeCompare(hash, sum[:]) != 1 {
		return errSecretMismatch
	}
	return nil
}

func (secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return sum[:], nil
}
