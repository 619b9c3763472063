// Package cmd implements skiffctl's commands, one file per verb. Each verb
// has an options struct with Complete, Validate and Run; commands write to
// injected IOStreams, take the client and clock from a Factory, and return
// errors, which main prints the way kubectl does (PrintError).
//
// Output follows kubectl as of the Kubernetes release matching our k8s.io
// libraries (v1.37). Decisions where skiff had to choose:
//
//   - delete prints kubectl's current line, `pod "x" deleted from default
//     namespace` (kubectl >= 1.34); -o name prints `pod/x`. --wait polls
//     until the object is gone or replaced (new uid).
//   - logs without -c on a pod of several containers fails with
//     `a container name must be specified for pod X, choose one of: [a b]`
//     unless the kubectl.kubernetes.io/default-container annotation names
//     one. (kubectl >= 1.24 picks the first container and prints a
//     "Defaulted container" note instead.)
//   - apply is kubectl's client-side apply: the manifest is stored in the
//     kubectl.kubernetes.io/last-applied-configuration annotation;
//     "unchanged" means every field the manifest sets already has that
//     value (server defaults do not count); otherwise the stored object is
//     sent back with the manifest merged in (three-way: fields the last
//     apply set and this one dropped are removed; lists of named items
//     merge by name) and its resourceVersion, retried on conflicts.
//     Documents are numbered from 1, empty ones not counted.
//   - get -w lists first, then watches from the list's revision; a named
//     object is filtered on the client, so no server field selector is
//     needed. Column widths only grow between updates, like kubectl's
//     RememberWidths tabwriter.
//   - Tables for ConfigMap, Secret, Namespace and Service are ready and
//     used as soon as core/api serves those resources; other kinds get
//     kubectl's NAME/AGE fallback.
package cmd
