package ldapstore_test

import (
	"testing"

	"github.com/restauth/caddy-restauth/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }
