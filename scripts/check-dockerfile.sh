#!/usr/bin/env bash
# Static checks of the Dockerfile where no Docker engine is available: runs hadolint if it
# is installed, and always checks that every COPY/ADD source exists in the repo (or is
# produced by `npm ci` / `npm run build`), that it is not excluded by .dockerignore, and
# that every --from= names an earlier stage. Exits non-zero on any problem.
# Usage: scripts/check-dockerfile.sh [Dockerfile]
set -euo pipefail
cd "$(dirname "$0")/.."
df=${1:-Dockerfile}
[ -f "$df" ] || { echo "check-dockerfile: $df not found" >&2; exit 1; }

# Paths (relative to the build stage's WORKDIR) that the build stage creates itself.
produced=("dist" "dist/*" "build" "build/*" "node_modules" "node_modules/*" "native/gen" "native/gen/*"
          "bpf/*.o" "bpf/*.bpf.o" "bpf/*.skel.h" "bpf/vmlinux.h")
errors=0; warnings=0
err() { echo "check-dockerfile: error: $*" >&2; errors=$((errors + 1)); }
warn() { echo "check-dockerfile: warning: $*" >&2; warnings=$((warnings + 1)); }

if command -v hadolint >/dev/null 2>&1; then
  hadolint "$df" || err "hadolint reported problems"
else
  echo "check-dockerfile: hadolint not installed, skipping lint (structural checks still run)"
fi

is_produced() {
  local p=$1 pat
  for pat in "${produced[@]}"; do
    # shellcheck disable=SC2053
    [[ $p == $pat ]] && return 0
  done
  return 1
}

# .dockerignore patterns (comments/blank lines dropped); a COPY source matching one is absent
# from the build context.
ignored=()
if [ -f .dockerignore ]; then
  while IFS= read -r l; do
    l=${l%%#*}; l=${l%"${l##*[![:space:]]}"}
    [ -n "$l" ] && ignored+=("${l%/}")
  done < .dockerignore
fi
is_ignored() {
  local p=${1%/} pat
  for pat in "${ignored[@]}"; do
    # shellcheck disable=SC2053
    [[ $p == $pat || $p == $pat/* ]] && return 0
  done
  return 1
}

in_repo() { # path (may be a glob) -> 0 if present in the working tree; warns if untracked
  local p=${1%/} m
  if [ "$p" = "." ]; then return 0; fi
  if compgen -G "$p" >/dev/null; then
    for m in $(compgen -G "$p"); do
      if [ -d "$m" ] && [ -z "$(find "$m" -type f -print -quit)" ]; then
        err "COPY source $m is an empty directory (git does not keep it)"; return 0
      fi
      if command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1 \
        && [ -z "$(git ls-files -- "$m" | head -1)" ]; then
        warn "COPY source $m exists but is not tracked by git (a clean checkout lacks it)"
      fi
    done
    return 0
  fi
  return 1
}

# Join continuation lines, drop comments; emit one instruction per line.
mapfile -t instr < <(awk '
  /^[[:space:]]*#/ { next }
  { line = cur $0; if (sub(/\\[[:space:]]*$/, "", line)) { cur = line " "; next } cur = ""; if (line ~ /[^[:space:]]/) print line }
' "$df")

declare -A stages=()
declare -A stage_workdir=()
stage=""; nstage=0
for line in "${instr[@]}"; do
  read -r -a w <<<"$line"
  op=${w[0]^^}
  case $op in
    FROM)
      nstage=$((nstage + 1)); stage="#$nstage"
      for ((i = 1; i < ${#w[@]}; i++)); do
        if [ "${w[i]^^}" = AS ] && [ $((i + 1)) -lt ${#w[@]} ]; then stage=${w[i + 1],,}; fi
      done
      stages[$stage]=1; stage_workdir[$stage]="/"
      ;;
    WORKDIR)
      wd=${w[1]}; [[ $wd == /* ]] || wd="${stage_workdir[$stage]%/}/$wd"
      stage_workdir[$stage]=$wd
      ;;
    COPY | ADD)
      [ -n "$stage" ] || { err "$op before FROM: $line"; continue; }
      from=""; args=()
      for ((i = 1; i < ${#w[@]}; i++)); do
        case ${w[i]} in
          --from=*) from=${w[i]#--from=} ;;
          --*) ;;
          *) args+=("${w[i]}") ;;
        esac
      done
      if [[ ${args[0]:-} == \[* ]]; then # JSON form
        mapfile -t args < <(echo "${args[*]}" | tr -d '[],' | tr ' ' '\n' | tr -d '"' | grep -v '^$')
      fi
      [ ${#args[@]} -ge 2 ] || { err "$op needs a source and a destination: $line"; continue; }
      srcs=("${args[@]:0:${#args[@]}-1}")
      if [ -n "$from" ]; then
        f=${from,,}
        if [ -z "${stages[$f]:-}" ]; then
          if [[ $from == *[:/]* ]]; then warn "--from=$from is an external image (not checked)"; continue; fi
          err "--from=$from names no earlier stage: $line"; continue
        fi
        wd=${stage_workdir[$f]%/}
        for s in "${srcs[@]}"; do
          rel=$s
          if [[ $s == /* ]]; then
            [ -n "$wd" ] && [[ $s == "$wd"/* ]] || { err "--from=$from source $s is outside that stage's WORKDIR $wd"; continue; }
            rel=${s#"$wd"/}
          fi
          is_produced "$rel" || in_repo "$rel" || err "--from=$from source $s: $rel is neither in the repo nor produced by the build"
        done
      else
        for s in "${srcs[@]}"; do
          if is_ignored "$s"; then err "COPY source $s is excluded by .dockerignore"; continue; fi
          in_repo "$s" || err "COPY source $s does not exist in the build context"
        done
      fi
      ;;
  esac
done
[ "$nstage" -gt 0 ] || err "no FROM instruction"
echo "check-dockerfile: $df: $nstage stage(s), $errors error(s), $warnings warning(s)"
[ "$errors" -eq 0 ]
