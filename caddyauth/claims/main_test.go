package claims_test

import (
	"testing"

	"github.com/restauth/caddy-restauth/internal/testkit"
)

// TestMain takes the test lock: these tests start Caddy on the ports
// every such package uses.
func TestMain(m *testing.M) { testkit.Main(m) }
