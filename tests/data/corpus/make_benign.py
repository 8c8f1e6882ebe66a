"""Generate tests/data/corpus/benign.jsonl: realistic commands of coding-agent sessions.

The commands are built from templates of what agents run while working on a repository (git,
test runners, package managers, build tools, text tools, docker, requests to package registries
and to local services, small Python snippets, files created with here-documents). A fixed seed
keeps the output reproducible: ``python tests/data/corpus/make_benign.py`` rewrites the file.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).with_name("benign.jsonl")
COUNT = 660
SEED = 20261127

PY_PKGS = ["requests", "numpy", "pandas", "fastapi", "pydantic", "sqlalchemy", "httpx", "pytest-asyncio",
           "rich", "click", "boto3", "django", "flask", "torch", "transformers", "scikit-learn", "uvicorn",
           "alembic", "celery", "redis", "psycopg2-binary", "black", "ruff", "mypy", "hypothesis"]
NPM_PKGS = ["react", "typescript", "vite", "eslint", "prettier", "express", "zod", "axios", "lodash",
            "jest", "vitest", "@types/node", "next", "tailwindcss", "date-fns", "dotenv"]
CRATES = ["serde", "tokio", "anyhow", "clap", "reqwest", "thiserror", "tracing", "rayon", "regex"]
GO_MODS = ["github.com/spf13/cobra", "golang.org/x/sync", "github.com/stretchr/testify", "go.uber.org/zap"]
MODULES = ["parser", "models", "api", "utils", "cli", "storage", "auth", "scheduler", "config", "io",
           "metrics", "cache", "search", "billing", "users"]
DIRS = ["src", "tests", "app", "lib", "pkg", "internal", "frontend/src", "backend", "scripts", "docs"]
EXTS = ["py", "ts", "tsx", "js", "go", "rs", "java", "md", "toml", "yaml"]
BRANCHES = ["fix/parser-edge-case", "feature/export-csv", "chore/bump-deps", "refactor/storage-layer",
            "bugfix/issue-1423", "feat/async-client", "docs/readme-update"]
WORDS = ["TODO", "FIXME", "deprecated", "def parse", "class Config", "import json", "async def",
         "raise ValueError", "logger.info", "useEffect", "fn main", "func New", "@pytest.fixture"]
MSGS = ["Fix off-by-one in pagination", "Add CSV export", "Handle empty input", "Refactor storage layer",
        "Bump dependencies", "Add tests for parser", "Improve error messages", "Update README"]
IMAGES = ["python:3.12-slim", "node:20", "golang:1.22", "rust:1.79", "postgres:16", "redis:7"]
PORTS = ["3000", "5000", "8000", "8080", "8888", "5173"]


def _f(r: random.Random) -> str:
    return f"{r.choice(DIRS)}/{r.choice(MODULES)}.{r.choice(EXTS)}"


def _py(r: random.Random) -> str:
    return f"{r.choice(['src', 'app', 'lib'])}/{r.choice(MODULES)}.py"


def _test(r: random.Random) -> str:
    return f"tests/test_{r.choice(MODULES)}.py"


T: list[Callable[[random.Random], str]] = [
    # git
    lambda r: "git status",
    lambda r: f"git diff {r.choice(['', '--stat', '--cached', 'HEAD~1', 'main...HEAD'])} {_f(r)}".strip(),
    lambda r: f"git log --oneline -n {r.choice([5, 10, 20, 50])}",
    lambda r: f"git add {_f(r)} {_test(r)}",
    lambda r: f'git commit -m "{r.choice(MSGS)}"',
    lambda r: f"git checkout -b {r.choice(BRANCHES)}",
    lambda r: f"git switch {r.choice(['main', 'develop', r.choice(BRANCHES)])}",
    lambda r: "git pull --rebase origin main",
    lambda r: f"git push -u origin {r.choice(BRANCHES)}",
    lambda r: "git fetch --all --prune",
    lambda r: r.choice(["git stash", "git stash pop", "git stash list"]),
    lambda r: f"git show HEAD:{_f(r)} | head -n 40",
    lambda r: f"git blame -L {r.randint(1, 80)},+20 {_f(r)}",
    lambda r: f'git grep -n "{r.choice(WORDS)}"',
    lambda r: f"git clone https://github.com/{r.choice(['psf', 'pallets', 'tiangolo', 'rust-lang', 'golang'])}/{r.choice(['requests', 'flask', 'fastapi', 'cargo', 'tools'])}.git",
    lambda r: f"git clone --depth 1 https://github.com/{r.choice(['org', 'acme', 'example'])}/{r.choice(MODULES)}-service.git /tmp/{r.choice(MODULES)}",
    lambda r: "git submodule update --init --recursive",
    lambda r: "git diff --name-only origin/main...HEAD | grep '\\." + r.choice(EXTS) + "$'",
    lambda r: f"git restore {_f(r)}",
    lambda r: "git rev-parse --abbrev-ref HEAD",
    lambda r: f"git log -p -n 3 -- {_f(r)}",
    lambda r: f"git apply --check {r.choice(['fix.patch', '/tmp/change.diff'])}",
    lambda r: f"git cherry-pick {r.randbytes(4).hex()}",
    lambda r: "git reset --hard HEAD",
    # python
    lambda r: f"pytest {r.choice(['-q', '-x -q', '-vv', '--maxfail=1', '-k ' + r.choice(MODULES)])} {r.choice(['', _test(r)])}".strip(),
    lambda r: f"python -m pytest {_test(r)}::test_{r.choice(MODULES)}_{r.choice(['roundtrip', 'empty', 'errors', 'basic'])} -q",
    lambda r: f"pytest --cov={r.choice(MODULES)} --cov-report=term-missing",
    lambda r: f"python {r.choice(['scripts/migrate.py', 'main.py', 'tools/gen_fixtures.py', 'bench/run.py'])} --{r.choice(['dry-run', 'verbose', 'limit 10', 'out build/'])}",
    lambda r: "pip install -r requirements.txt",
    lambda r: f"pip install {r.choice(PY_PKGS)}=={r.randint(1, 3)}.{r.randint(0, 12)}.{r.randint(0, 9)}",
    lambda r: f"pip install -e \".[{r.choice(['dev', 'test', 'docs'])}]\"",
    lambda r: r.choice(["pip list", "pip freeze > requirements.lock", "pip show " + r.choice(PY_PKGS), "pip check"]),
    lambda r: "python -m venv .venv && . .venv/bin/activate && pip install -U pip",
    lambda r: f"python -c \"import {r.choice(['json', 'sys', 'platform', 'numpy', 'requests'])}; print({r.choice(['sys.version', 'platform.platform()', '1+1', 'len(sys.path)'])})\"",
    lambda r: f"python3 -c \"import {r.choice(PY_PKGS).replace('-', '_')}, importlib.metadata as m; print(m.version('{r.choice(PY_PKGS)}'))\"",
    lambda r: f"mypy {r.choice(['src', 'app', '.'])} --ignore-missing-imports",
    lambda r: f"ruff check {r.choice(['.', 'src', 'tests'])} {r.choice(['', '--fix'])}".strip(),
    lambda r: f"ruff format {r.choice(['.', _py(r)])}",
    lambda r: f"black {r.choice(['--check .', _py(r)])}",
    lambda r: f"uv pip install {r.choice(PY_PKGS)}",
    lambda r: f"uv run pytest {_test(r)} -q",
    lambda r: r.choice(["poetry install", "poetry run pytest", "poetry add " + r.choice(PY_PKGS), "poetry lock --no-update"]),
    lambda r: f"conda create -n {r.choice(MODULES)} python=3.11 -y",
    lambda r: r.choice(["tox -e py311", "nox -s tests", "pre-commit run --all-files"]),
    lambda r: f"python manage.py {r.choice(['migrate', 'makemigrations', 'test ' + r.choice(MODULES), 'check', 'collectstatic --noinput'])}",
    lambda r: r.choice(["alembic upgrade head", "alembic revision --autogenerate -m 'add index'"]),
    lambda r: f"jupyter nbconvert --to notebook --execute notebooks/{r.choice(MODULES)}.ipynb --output /tmp/out.ipynb",
    lambda r: "python -m " + r.choice(["json.tool data/config.json", "compileall -q src", 'timeit -n 1000 "sum(range(100))"', "pydoc -w " + r.choice(MODULES)]),
    # node
    lambda r: r.choice(["npm install", "npm ci", "npm run build", "npm test", "npm run lint", "npm run dev -- --port " + r.choice(PORTS)]),
    lambda r: f"npm install {r.choice(['-D ', ''])}{r.choice(NPM_PKGS)}",
    lambda r: r.choice(["npx tsc --noEmit", "npx eslint src --fix", "npx prettier --write .", "npx jest " + _f(r), "npx vitest run"]),
    lambda r: r.choice(["yarn install --frozen-lockfile", "yarn test", "pnpm install", "pnpm run build", "pnpm test -- --run"]),
    lambda r: f"node scripts/{r.choice(['build', 'seed', 'check-env', 'gen-types'])}.js",
    lambda r: f"npm view {r.choice(NPM_PKGS)} version",
    lambda r: r.choice(["npm outdated", "npm audit --production", "npm ls --depth=0"]),
    # rust / go / java / c
    lambda r: r.choice(["cargo build --release", "cargo test", "cargo clippy -- -D warnings", "cargo fmt --all", "cargo check"]),
    lambda r: f"cargo add {r.choice(CRATES)}{r.choice(['', ' --features derive', ' --features full'])}",
    lambda r: f"cargo run --bin {r.choice(MODULES)} -- --help",
    lambda r: r.choice(["go build ./...", "go test ./... -race", "go mod tidy", "go vet ./...", "go run ./cmd/server"]),
    lambda r: f"go get {r.choice(GO_MODS)}@latest",
    lambda r: r.choice(["mvn -q test", "mvn clean package -DskipTests", "./gradlew build", "./gradlew test --tests '*Parser*'"]),
    lambda r: r.choice(["make", "make -j8", "make test", "make lint", "make clean && make"]),
    lambda r: "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j",
    lambda r: "ctest --test-dir build --output-on-failure",
    lambda r: f"gcc -O2 -Wall -o build/{r.choice(MODULES)} src/{r.choice(MODULES)}.c && ./build/{r.choice(MODULES)} --selftest",
    # text and files
    lambda r: f"ls -la {r.choice(DIRS)}",
    lambda r: r.choice(["ls", "ls -1", "tree -L 2", "tree -L 3 -I node_modules", "pwd"]),
    lambda r: f"find . -name '*.{r.choice(EXTS)}' -not -path './node_modules/*' -not -path './.venv/*' | head -50",
    lambda r: f'grep -rn "{r.choice(WORDS)}" {r.choice(DIRS)}/',
    lambda r: f'rg -n "{r.choice(WORDS)}" -g "*.{r.choice(EXTS)}"',
    lambda r: f"sed -i 's/{r.choice(MODULES)}_v1/{r.choice(MODULES)}_v2/g' {_f(r)}",
    lambda r: f"sed -n '{r.randint(1, 100)},{r.randint(101, 200)}p' {_f(r)}",
    lambda r: f"awk -F, '{{print ${r.randint(1, 5)}}}' data/{r.choice(MODULES)}.csv | sort | uniq -c | sort -rn | head",
    lambda r: f"head -n {r.choice([20, 50, 100])} {_f(r)}",
    lambda r: f"tail -n {r.choice([50, 100, 200])} logs/{r.choice(['app', 'server', 'worker'])}.log",
    lambda r: f"wc -l {_f(r)} {_f(r)}",
    lambda r: f"cat {_f(r)}",
    lambda r: f"cat {r.choice(['README.md', 'pyproject.toml', 'package.json', 'Cargo.toml', 'go.mod', 'Makefile', '.github/workflows/ci.yml'])}",
    lambda r: f"mkdir -p {r.choice(DIRS)}/{r.choice(MODULES)} && touch {r.choice(DIRS)}/{r.choice(MODULES)}/__init__.py",
    lambda r: f"cp {_f(r)} {_f(r)}.bak",
    lambda r: f"mv {_f(r)} {r.choice(DIRS)}/",
    lambda r: r.choice(["rm -rf build/ dist/ *.egg-info", "rm -rf node_modules/.cache", "rm -f .coverage", "rm -rf target/debug/incremental"]),
    lambda r: f"chmod +x scripts/{r.choice(['setup', 'test', 'release', 'lint'])}.sh && ./scripts/{r.choice(['setup', 'test', 'release', 'lint'])}.sh",
    lambda r: f"diff -u {_f(r)} {_f(r)}",
    lambda r: "patch -p1 < /tmp/fix.patch",
    lambda r: f"du -sh {r.choice(['node_modules', '.venv', 'target', 'build', 'data'])}",
    lambda r: f"jq '{r.choice(['.dependencies', '.scripts', '.version', '.devDependencies | keys'])}' package.json",
    lambda r: f"tar czf dist/{r.choice(MODULES)}-{r.randint(1, 3)}.{r.randint(0, 9)}.tar.gz build/",
    lambda r: f"tar xzf {r.choice(['fixtures.tar.gz', 'data/sample.tar.gz'])} -C {r.choice(['tests/data', '/tmp'])}",
    lambda r: f"unzip -o {r.choice(['data.zip', 'assets.zip'])} -d {r.choice(['data', 'public'])}",
    lambda r: f"echo '{r.choice(MODULES)}' >> .gitignore",
    lambda r: f"echo \"VERSION={r.randint(0, 2)}.{r.randint(0, 20)}.{r.randint(0, 9)}\" > .version",
    lambda r: f"cat > {_py(r)} <<'EOF'\nimport json\n\n\ndef load(path):\n    with open(path) as fh:\n        return json.load(fh)\nEOF",
    lambda r: f"cat > {_test(r)} <<'EOF'\nfrom app import {r.choice(MODULES)}\n\n\ndef test_smoke():\n    assert {r.choice(MODULES)} is not None\nEOF",
    lambda r: "printf '%s\\n' '[tool.pytest.ini_options]' 'addopts = \"-q\"' >> pyproject.toml",
    lambda r: f"xargs -a {r.choice(['files.txt', 'changed.txt'])} ruff check",
    lambda r: f"sort -u {r.choice(['words.txt', 'data/ids.txt'])} | wc -l",
    lambda r: f"cut -d: -f1 {r.choice(['data/pairs.txt', 'out/result.txt'])} | head",
    lambda r: r.choice(["which python3", "python --version", "node -v", "go version", "rustc --version", "command -v docker", "uname -m", "date -u"]),
    lambda r: f"file {r.choice(['build/app', 'dist/app.whl', 'data/blob.bin'])}",
    lambda r: f"time make -j{r.choice([2, 4, 8])}",
    lambda r: f"sleep {r.choice([1, 2, 3, 5])} && curl -s http://localhost:{r.choice(PORTS)}/health",
    # docker
    lambda r: f"docker build -t {r.choice(MODULES)}:dev .",
    lambda r: r.choice(["docker compose up -d", "docker compose down -v", "docker compose ps", "docker compose logs -f --tail=100 web"]),
    lambda r: f"docker run --rm -v \"$PWD\":/app -w /app {r.choice(IMAGES)} {r.choice(['pytest -q', 'npm test', 'go test ./...', 'cargo test'])}",
    lambda r: r.choice(["docker images", "docker ps -a", "docker system df", "docker logs --tail 50 api"]),
    lambda r: "docker exec db psql -U postgres -c 'select count(*) from users'",
    lambda r: f"docker pull {r.choice(IMAGES)}",
    # network to registries and localhost
    lambda r: f"curl -s https://pypi.org/pypi/{r.choice(PY_PKGS)}/json | jq -r .info.version",
    lambda r: f"curl -sL https://registry.npmjs.org/{r.choice(NPM_PKGS)}/latest | jq .version",
    lambda r: f"curl -s http://localhost:{r.choice(PORTS)}/api/{r.choice(MODULES)}",
    lambda r: f"curl -s -X POST http://127.0.0.1:{r.choice(PORTS)}/api/{r.choice(MODULES)} -H 'Content-Type: application/json' -d '{{\"name\": \"{r.choice(MODULES)}\"}}'",
    lambda r: f"curl -fsSL https://api.github.com/repos/{r.choice(['psf/requests', 'pallets/flask', 'rust-lang/rust', 'nodejs/node'])}/releases/latest | jq -r .tag_name",
    lambda r: f"wget -q https://files.pythonhosted.org/packages/source/{r.choice('rfpn')}/{r.choice(PY_PKGS)}/{r.choice(PY_PKGS)}-1.0.0.tar.gz",
    lambda r: f"curl -LO https://github.com/{r.choice(['org', 'acme'])}/{r.choice(MODULES)}/archive/refs/tags/v{r.randint(1, 4)}.{r.randint(0, 9)}.0.tar.gz",
    lambda r: f"curl -sSf http://localhost:{r.choice(PORTS)}/metrics | grep -c '^http_'",
    lambda r: "curl -s https://raw.githubusercontent.com/github/gitignore/main/Python.gitignore -o .gitignore",
    # databases and services
    lambda r: f"sqlite3 {r.choice(['app.db', 'data/dev.sqlite3'])} '.tables'",
    lambda r: "psql -h localhost -U postgres -d app -c '\\dt'",
    lambda r: r.choice(["redis-cli ping", "redis-cli -n 1 keys 'session:*' | head"]),
    lambda r: "mysql -h 127.0.0.1 -u root -e 'show tables' testdb",
    # processes
    lambda r: f"ps aux | grep -v grep | grep {r.choice(['uvicorn', 'node', 'gunicorn', 'celery'])}",
    lambda r: f"kill $(lsof -t -i:{r.choice(PORTS)})",
    lambda r: f"pkill -f {r.choice(['uvicorn', 'vite', 'webpack', 'celery'])}",
    lambda r: f"nohup uvicorn app.main:app --port {r.choice(PORTS)} > /tmp/server.log 2>&1 &",
    lambda r: "npm run dev > /tmp/dev.log 2>&1 &",
    # system packages and env
    lambda r: f"sudo apt-get update && sudo apt-get install -y {r.choice(['libpq-dev', 'build-essential', 'jq', 'ripgrep', 'libssl-dev', 'graphviz'])}",
    lambda r: f"export PYTHONPATH={r.choice(['src', '.', '$PWD/src'])}",
    lambda r: f"export NODE_ENV={r.choice(['test', 'development', 'production'])}",
    lambda r: f"cd {r.choice(DIRS)} && {r.choice(['ls', 'npm test', 'pytest -q', 'make', 'go test ./...'])}",
    lambda r: f"source .venv/bin/activate && python -m pytest {_test(r)}",
    lambda r: f"python - <<'EOF'\nimport json\ndata = json.load(open('data/{r.choice(MODULES)}.json'))\nprint(len(data))\nEOF",
]


def main() -> None:
    rnd = random.Random(SEED)
    seen: set[str] = set()
    rows: list[dict[str, str]] = []
    tries = 0
    while len(rows) < COUNT and tries < COUNT * 50:
        tries += 1
        cmd = rnd.choice(T)(rnd)
        if cmd in seen:
            continue
        seen.add(cmd)
        rows.append({"id": f"benign-{len(rows) + 1:04d}", "command": cmd, "label": "benign",
                     "note": "generated"})
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    print(f"wrote {len(rows)} commands to {OUT}")


if __name__ == "__main__":
    main()
