# tools/lib.sh: shared by tools/quickstart and tools/check.  Source it
# from the repository root.

# say: one terse progress line on stderr.
say()
{
	printf '==> %s\n' "$*" >&2
}

die()
{
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

# as_root CMD...: run CMD as root, through sudo when we are not root.
as_root()
{
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

# install_packages: install what tools/packages lists and dpkg lacks.
install_packages()
{
	local list=tools/packages pkg missing=()
	[ -f "$list" ] || die "$list not found"
	if ! command -v dpkg-query >/dev/null 2>&1; then
		say "not a Debian system: install the packages in $list yourself"
		return 0
	fi
	while read -r pkg; do
		pkg=${pkg%%#*}
		pkg=${pkg//[[:space:]]/}
		[ -n "$pkg" ] || continue
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
		    grep -q 'install ok installed' || missing+=("$pkg")
	done <"$list"
	if [ ${#missing[@]} -eq 0 ]; then
		say "packages: all $(grep -cv '^[[:space:]]*\(#\|$\)' "$list") present"
		return 0
	fi
	say "installing ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
	    die "apt-get update failed"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends "${missing[@]}" ||
	    die "apt-get install failed"
}

# build [BUILDDIR]: bootstrap, configure and make.  In-tree by default;
# with BUILDDIR (or $BUILDDIR) the build is out of tree.  Steps already
# done are not repeated: make reruns autoconf/automake/config.status
# itself when their inputs change.
build()
{
	local src=$PWD dir=${1:-${BUILDDIR:-}} jobs
	jobs=$(nproc 2>/dev/null || echo 2)
	if [ ! -x configure ]; then
		say "bootstrap"
		./bootstrap >bootstrap.log 2>&1 ||
		    { cat bootstrap.log >&2; die "bootstrap failed"; }
	fi
	if [ -n "$dir" ]; then
		mkdir -p "$dir"
		dir=$(cd "$dir" && pwd)
	else
		dir=$src
	fi
	if [ ! -f "$dir/config.status" ]; then
		if [ "$dir" = "$src" ]; then
			say "configure"
		else
			say "configure in $dir"
		fi
		# shellcheck disable=SC2086 # flags are words on purpose
		(cd "$dir" && "$src/configure" -q ${CONFIGURE_FLAGS:-}) ||
		    die "configure failed (see $dir/config.log)"
	fi
	say "make -j$jobs (log: $dir/make.log)"
	if ! make -C "$dir" -j"$jobs" >"$dir/make.log" 2>&1; then
		grep -n -m 20 -E 'error|Error' "$dir/make.log" >&2
		die "build failed, see $dir/make.log"
	fi
	BUILD_DIR=$dir
}
