package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
)

// Operator is a person who may sign in to the console of `imsfeed serve` and approve or reject
// held runs. The password file holds a bcrypt hash (htpasswd -nbBC 12 "" PASSWORD | cut -c2-)
// or an argon2id hash in the PHC format (echo -n PASSWORD | argon2 SALT -id -e),
// never the password itself.
type Operator struct {
	Name         string `yaml:"name"`
	Email        string `yaml:"email"`
	PasswordFile string `yaml:"password_file"`
	// Tenants are the tenants the operator sees and decides for. Without the key (nil) the
	// operator sees all; an empty list (tenants: []) is an operator of no tenant, who sees none.
	Tenants []string `yaml:"tenants"`
}

// Sees reports whether the operator may see and decide for the tenant.
func (o *Operator) Sees(tenant string) bool {
	if o.Tenants == nil {
		return true
	}
	for _, t := range o.Tenants {
		if t == tenant {
			return true
		}
	}
	return false
}

// Console is how the console signs operators in besides their passwords: a header set by a
// signing-in proxy, trusted only from the proxy's addresses.
type Console struct {
	// TrustedHeader (e.g. X-Forwarded-User) names the operator (by email or name) when the
	// request comes from one of TrustedProxies.
	TrustedHeader  string   `yaml:"trusted_header"`
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// TrustsProxy reports whether a request from remote (host:port or host) may name its operator
// in the trusted header.
func (c *Console) TrustsProxy(remote string) bool {
	if c == nil || c.TrustedHeader == "" {
		return false
	}
	return c.FromProxy(remote)
}

// FromProxy reports whether remote (host:port or host) is one of TrustedProxies: then its
// X-Forwarded-For names the client's address (for the sign-in slow-down and the log).
func (c *Console) FromProxy(remote string) bool {
	if c == nil {
		return false
	}
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, p := range c.TrustedProxies {
		if _, n, err := net.ParseCIDR(p); err == nil {
			if n.Contains(ip) {
				return true
			}
		} else if q := net.ParseIP(p); q != nil && q.Equal(ip) {
			return true
		}
	}
	return false
}

func validateOperators(c *Config) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	seen := map[string]bool{}
	for i, o := range c.Operators {
		key := fmt.Sprintf("operators[%d]", i)
		if strings.TrimSpace(o.Name) == "" {
			bad("%s: name is required (it is recorded as who approved)", key)
		}
		for _, id := range []string{strings.ToLower(o.Email), o.Name} {
			if id == "" {
				continue
			}
			if seen[id] {
				bad("%s: %q is another operator's name or email too", key, id)
			}
			seen[id] = true
		}
		for _, t := range o.Tenants {
			if _, err := c.Tenant(t); err != nil {
				bad("%s.tenants: %v", key, err)
			}
		}
	}
	if c.HTTP != nil && c.HTTP.Console != nil {
		con := c.HTTP.Console
		if con.TrustedHeader != "" && len(con.TrustedProxies) == 0 {
			bad("http.console.trusted_header: set trusted_proxies too: the header is believed only from the proxy's addresses")
		}
		for _, p := range con.TrustedProxies {
			if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
				bad("http.console.trusted_proxies: %q is neither an IP address nor a CIDR range", p)
			}
		}
	}
	if len(c.Operators) > 0 && c.HTTP == nil {
		bad("operators: the console needs an http block (imsfeed serve's listener)")
	}
	return errs
}

// resolveOperators makes relative password files relative to the config file.
func (c *Config) resolveOperators(base string) {
	for i := range c.Operators {
		p := c.Operators[i].PasswordFile
		if p != "" && !filepath.IsAbs(p) {
			c.Operators[i].PasswordFile = filepath.Join(base, p)
		}
	}
}
