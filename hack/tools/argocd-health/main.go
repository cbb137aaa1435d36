// argocd-health runs an Argo CD resource health check written in Lua against Kubernetes objects,
// the way Argo CD's controller runs a health.lua from resource.customizations: gopher-lua (the
// interpreter Argo CD embeds) with the standard libraries closed except package, base and table,
// the object as the global `obj` (JSON numbers as Lua numbers, lists as sequences), a one-second
// budget, and a result that must be a table whose status is one of Argo CD's health codes.
//
// Usage: argocd-health SCRIPT.lua < objects.json (a JSON array of objects); prints a JSON array of
// {"status": ..., "message": ...}, one per object, in order. Exit 1 on a script error.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

var healthCodes = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: argocd-health SCRIPT.lua < objects.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	decoder := json.NewDecoder(os.Stdin)
	decoder.UseNumber()
	var objects []map[string]any
	if err := decoder.Decode(&objects); err != nil {
		fail(fmt.Errorf("reading objects: %w", err))
	}
	results := make([]result, 0, len(objects))
	for i, obj := range objects {
		r, err := run(string(script), obj)
		if err != nil {
			fail(fmt.Errorf("object %d: %w", i, err))
		}
		results = append(results, r)
	}
	out, _ := json.Marshal(results)
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func run(script string, obj map[string]any) (result, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for name, open := range map[string]lua.LGFunction{
		lua.LoadLibName: lua.OpenPackage, lua.BaseLibName: lua.OpenBase, lua.TabLibName: lua.OpenTable,
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(open), NRet: 0, Protect: true}, lua.LString(name)); err != nil {
			return result{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return result{}, err
	}
	table, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return result{}, fmt.Errorf("expected a table from the script, got %s", L.Get(-1).Type())
	}
	r := result{Status: lua.LVAsString(table.RawGetString("status")), Message: lua.LVAsString(table.RawGetString("message"))}
	if !healthCodes[r.Status] {
		// Argo CD turns an unknown code into Unknown with this message.
		return result{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return r, nil
}

// toLua converts decoded JSON as Argo CD converts an unstructured object: numbers become Lua numbers.
func toLua(L *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return lua.LString(v.String())
		}
		return lua.LNumber(f)
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetString(key, toLua(L, item))
		}
		return t
	}
	return lua.LNil
}
