package pluginhost

import "github.com/skiffhq/skiff/core/api/apipb"

// Proto is s as the API reports it (plugin ls, reload), for node ("" for
// a server's own plugins).
func (s Status) Proto(node string) *apipb.PluginStatus {
	return &apipb.PluginStatus{
		Node: node, Kind: string(s.Kind), Name: s.Name, Version: s.Version,
		ApiVersion: int32(s.APIVersion), Pid: int64(s.PID), Restarts: int32(s.Restarts),
		Healthy: s.Healthy, SinceUnix: s.Since.Unix(), Message: s.Message, Path: s.Path,
	}
}
