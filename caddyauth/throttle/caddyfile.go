package throttle

import (
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/restauth/caddy-restauth/caddyauth"
)

// ParseLimit reads the arguments of a limit option written
// "<option> <failures> [<window>]" or "<option> off": failures is -1 for
// off, window 0 when it is not given. example is a sample value such as
// "10 1m" for the error messages.
func ParseLimit(d *caddyfile.Dispenser, option, example string) (failures int, window time.Duration, err error) {
	args := d.RemainingArgs()
	if len(args) == 1 && args[0] == "off" {
		return -1, 0, nil
	}
	if len(args) < 1 || len(args) > 2 {
		return 0, 0, d.Errf("%s: write %s <failures> [<window>], e.g. %s %s; or %s off", option, option, option, example, option)
	}
	n, perr := strconv.Atoi(args[0])
	if perr != nil || n < 1 {
		return 0, 0, d.Errf("%s: failures must be a positive number or off, not %q (e.g. %s %s)", option, args[0], option, example)
	}
	if len(args) == 2 {
		if window, err = caddyauth.ParseDuration(d, option, args[1]); err != nil {
			return 0, 0, err
		}
		if window <= 0 {
			return 0, 0, d.Errf("%s: the window %q must be more than 0s", option, args[1])
		}
	}
	return n, window, nil
}
