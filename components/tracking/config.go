package tracking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// AuthDatabaseSuffix names the basic-auth database: <database>_auth. The
// auth app keeps its own Alembic migration history, so it cannot share
// the tracking database (both would use the alembic_version table).
const AuthDatabaseSuffix = "_auth"

// authDefaultPermission is what every user may do on resources they were
// given no permission for.
const authDefaultPermission = "READ"

// flaskKeyContext separates the Flask secret key derived from the admin
// password from any other use of that password.
const flaskKeyContext = "plinth.dev/tracking/flask-secret-key/v1"

// identifierRE is a PostgreSQL identifier that needs no quoting.
var identifierRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// backendURI is the SQLAlchemy (and libpq) URI of a PostgreSQL database,
// with the user and password percent-encoded.
func backendURI(user, password, host string, port int, database string) (string, error) {
	switch {
	case user == "":
		return "", errors.New("backend store URI: empty database user")
	case host == "":
		return "", errors.New("backend store URI: empty database host")
	case port < 1 || port > 65535:
		return "", fmt.Errorf("backend store URI: port %d out of range", port)
	case !identifierRE.MatchString(database):
		return "", fmt.Errorf("backend store URI: database name %q is not a plain PostgreSQL identifier", database)
	}
	u := url.URL{
		Scheme: "postgresql",
		User:   url.UserPassword(user, password),
		Host:   net.JoinHostPort(host, strconv.Itoa(port)),
		Path:   "/" + database,
	}
	return u.String(), nil
}

// authDatabaseName is the basic-auth database of a tracking database.
func authDatabaseName(database string) (string, error) {
	name := database + AuthDatabaseSuffix
	if !identifierRE.MatchString(database) || len(name) > 63 {
		return "", fmt.Errorf("auth database name %q is not a plain PostgreSQL identifier of at most 63 characters", name)
	}
	return name, nil
}

// authConfig is the basic-auth app's configuration file (read from
// MLFLOW_AUTH_CONFIG_PATH by Python's configparser, which treats '%' as
// interpolation: it is doubled).
func authConfig(databaseURI, adminUser, adminPassword string) (string, error) {
	for _, f := range [][2]string{{"database URI", databaseURI}, {"admin user", adminUser}, {"admin password", adminPassword}} {
		what, v := f[0], f[1]
		if strings.ContainsAny(v, "\r\n") {
			return "", fmt.Errorf("auth config: the %s contains a line break", what)
		}
		if v != strings.TrimSpace(v) || v == "" {
			return "", fmt.Errorf("auth config: the %s is empty or starts or ends with white space", what)
		}
	}
	esc := func(s string) string { return strings.ReplaceAll(s, "%", "%%") }
	return fmt.Sprintf(`[mlflow]
default_permission = %s
database_uri = %s
admin_username = %s
admin_password = %s
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
`, authDefaultPermission, esc(databaseURI), esc(adminUser), esc(adminPassword)), nil
}

// flaskSecretKey is the key the basic-auth app signs its CSRF tokens
// with. Every replica needs the same one, so it is derived from the admin
// password (HMAC-SHA256) instead of being random per pod: no extra
// provider, stable across updates, and it changes when the password does.
func flaskSecretKey(adminPassword string) string {
	m := hmac.New(sha256.New, []byte(adminPassword))
	m.Write([]byte(flaskKeyContext))
	return hex.EncodeToString(m.Sum(nil))
}

// createAuthDatabaseScript waits for PostgreSQL and creates the auth
// database ($AUTH_DATABASE, checked to be a plain identifier) when it is
// missing; a replica losing the race to create it finds it afterwards.
const createAuthDatabaseScript = `set -eu
i=0
until pg_isready -q -d "$MLFLOW_BACKEND_STORE_URI"; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then echo "PostgreSQL is not ready after 5 minutes" >&2; exit 1; fi
  sleep 5
done
exists() {
  [ "$(psql "$MLFLOW_BACKEND_STORE_URI" -XtAc "SELECT 1 FROM pg_database WHERE datname = '$AUTH_DATABASE'")" = 1 ]
}
exists || psql "$MLFLOW_BACKEND_STORE_URI" -X -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$AUTH_DATABASE\"" || exists
`
