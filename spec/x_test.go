package spec
import ("testing";"fmt")
func TestX(t *testing.T){ _, err := Load(t.Context(), Options{ProjectDirectory: "/tmp/t1"}); fmt.Println(err) }
