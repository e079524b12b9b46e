package ldapstore

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// UnmarshalCaddyfile reads the store's block:
//
//	user_store ldap {
//		url <ldap://host[:port]|ldaps://host[:port]>...
//		start_tls
//		ca_file <pem>...
//		server_name <name>
//		bind_dn <dn>
//		bind_password <password>      # {env.LDAP_BIND_PASSWORD}
//		user_base_dn <dn>
//		user_filter <filter>          # {username}
//		user_name_attribute <attr>
//		group_base_dn <dn>
//		group_filter <filter>         # {dn}, {username}
//		group_name_attribute <attr>
//		member_of_attribute <attr>
//		nested_groups search [<depth>] | in_chain
//		role <group> <role>...
//		password_changed_attribute <attr>
//		timeout <duration>
//		pool_size <n>
//		cache_ttl <duration>|off
//		lookup_ttl <duration>|off
//		cache_size <n>
//	}
func (s *LDAPStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the store's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch opt := d.Val(); opt {
		case "url":
			err = caddyauth.SomeArgs(d, &s.URLs)
		case "start_tls":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.StartTLS = true
		case "ca_file":
			err = caddyauth.SomeArgs(d, &s.CAFiles)
		case "server_name":
			err = caddyauth.OneArg(d, &s.ServerName)
		case "bind_dn":
			err = caddyauth.OneArg(d, &s.BindDN)
		case "bind_password":
			err = caddyauth.OneArg(d, &s.BindPassword)
		case "user_base_dn":
			err = caddyauth.OneArg(d, &s.UserBaseDN)
		case "user_filter":
			err = caddyauth.OneArg(d, &s.UserFilter)
		case "user_name_attribute":
			err = caddyauth.OneArg(d, &s.UserNameAttribute)
		case "group_base_dn":
			err = caddyauth.OneArg(d, &s.GroupBaseDN)
		case "group_filter":
			err = caddyauth.OneArg(d, &s.GroupFilter)
		case "group_name_attribute":
			err = caddyauth.OneArg(d, &s.GroupNameAttribute)
		case "member_of_attribute":
			err = caddyauth.OneArg(d, &s.MemberOfAttribute)
		case "password_changed_attribute":
			err = caddyauth.OneArg(d, &s.PasswordChangedAttribute)
		case "nested_groups":
			args := d.RemainingArgs()
			switch {
			case len(args) == 1 && (args[0] == nestedSearch || args[0] == nestedInChain):
				s.NestedGroups = args[0]
			case len(args) == 2 && args[0] == nestedSearch:
				n, perr := strconv.Atoi(args[1])
				if perr != nil || n < 1 {
					return d.Errf("nested_groups search <depth>: the depth is a positive number, not %q", args[1])
				}
				s.NestedGroups, s.NestedDepth = nestedSearch, n
			default:
				return d.Err("nested_groups search [<depth>] or nested_groups in_chain (Active Directory)")
			}
		case "role":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Err("role <group> <role>...: a directory group and the users files' roles it gives")
			}
			if s.Roles == nil {
				s.Roles = map[string][]string{}
			}
			s.Roles[args[0]] = append(s.Roles[args[0]], args[1:]...)
		case "timeout":
			err = durationArg(d, &s.Timeout, false)
		case "cache_ttl":
			err = durationArg(d, &s.CacheTTL, true)
		case "lookup_ttl":
			err = durationArg(d, &s.LookupTTL, true)
		case "pool_size", "cache_size":
			var v string
			if err = caddyauth.OneArg(d, &v); err == nil {
				n, perr := strconv.Atoi(v)
				if perr != nil || n < 1 {
					return d.Errf("%s: a positive number, not %q", opt, v)
				}
				if opt == "pool_size" {
					s.PoolSize = n
				} else {
					s.CacheSize = n
				}
			}
		default:
			return caddyauth.UnknownOption(d, "ldap", ldapOptions)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

var ldapOptions = []string{"url", "start_tls", "ca_file", "server_name", "bind_dn", "bind_password", "user_base_dn",
	"user_filter", "user_name_attribute", "group_base_dn", "group_filter", "group_name_attribute", "member_of_attribute",
	"nested_groups", "role", "password_changed_attribute", "timeout", "pool_size", "cache_ttl", "lookup_ttl", "cache_size"}

// durationArg reads a duration, or off (-1) where allowed.
func durationArg(d *caddyfile.Dispenser, out *caddy.Duration, offOK bool) error {
	opt := d.Val()
	var v string
	if err := caddyauth.OneArg(d, &v); err != nil {
		return err
	}
	if offOK && v == "off" {
		*out = -1
		return nil
	}
	dur, err := caddyauth.ParseDuration(d, opt, v)
	if err != nil {
		return err
	}
	*out = caddy.Duration(dur)
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*LDAPStore)(nil)
