package tracking

import (
	"net/url"
	"strings"
	"testing"
)

func TestBackendURI(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		user, password, host string
		port                 int
		db, want, err        string
	}{
		{"plain", "mlflow", "Abc-_.~123", "db.internal", 5432, "mlflow", "postgresql://mlflow:Abc-_.~123@db.internal:5432/mlflow", ""},
		{"escaped", "ml flow", "p@ss/w%rd:x?#", "db", 6432, "mlflow", "postgresql://ml%20flow:p%40ss%2Fw%25rd%3Ax%3F%23@db:6432/mlflow", ""},
		{"IPv6 host", "u", "p", "fd00::1", 5432, "mlflow", "postgresql://u:p@[fd00::1]:5432/mlflow", ""},
		{"no user", "", "p", "db", 5432, "mlflow", "", "empty database user"},
		{"no host", "u", "p", "", 5432, "mlflow", "", "empty database host"},
		{"port", "u", "p", "db", 0, "mlflow", "", "port 0 out of range"},
		{"database name", "u", "p", "db", 5432, "ml;drop", "", `database name "ml;drop"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := backendURI(tc.user, tc.password, tc.host, tc.port, tc.db)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("backendURI = %q, %v; want %q", got, err, tc.want)
			}
			// What SQLAlchemy and libpq decode is what went in.
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			pw, _ := u.User.Password()
			if u.User.Username() != tc.user || pw != tc.password {
				t.Errorf("round trip: %q:%q", u.User.Username(), pw)
			}
		})
	}
}

func TestAuthDatabaseName(t *testing.T) {
	if got, err := authDatabaseName("mlflow"); got != "mlflow_auth" || err != nil {
		t.Errorf("authDatabaseName(mlflow) = %q, %v", got, err)
	}
	for _, bad := range []string{"ml-flow", "", strings.Repeat("a", 59)} {
		if _, err := authDatabaseName(bad); err == nil {
			t.Errorf("authDatabaseName(%q) accepted", bad)
		}
	}
}

func TestAuthConfig(t *testing.T) {
	ini, err := authConfig("postgresql://u:p%40ss@db:5432/mlflow_auth", "admin", "100%-secret")
	if err != nil {
		t.Fatal(err)
	}
	want := `[mlflow]
default_permission = READ
database_uri = postgresql://u:p%%40ss@db:5432/mlflow_auth
admin_username = admin
admin_password = 100%%-secret
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
`
	if ini != want {
		t.Errorf("authConfig =\n%s\nwant\n%s", ini, want)
	}
	for _, tc := range []struct{ uri, user, password, err string }{
		{"postgresql://db/x", "admin", "a\nb", "admin password contains a line break"},
		{"postgresql://db/x\r", "admin", "p", "database URI contains a line break"},
		{"postgresql://db/x", "admin", " padded ", "admin password is empty or starts or ends with white space"},
		{"postgresql://db/x", "", "p", "admin user is empty"},
	} {
		if _, err := authConfig(tc.uri, tc.user, tc.password); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("authConfig(%q, %q, %q) err = %v, want %q", tc.uri, tc.user, tc.password, err, tc.err)
		}
	}
}

func TestFlaskSecretKey(t *testing.T) {
	a, b := flaskSecretKey("one password"), flaskSecretKey("another password")
	if a != flaskSecretKey("one password") {
		t.Error("the key is not stable: replicas would disagree")
	}
	if a == b || len(a) != 64 || strings.Contains(a, "password") {
		t.Errorf("keys %q and %q", a, b)
	}
}
