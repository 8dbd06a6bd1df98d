"""What the tests check in infra/, with tree-sitter-bicep (the Bicep compiler cannot run here).

Each check takes an infra folder and returns a list of problems, so that a test can run it on the
real folder (no problems) and on a damaged copy (the damage is named).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

# The built-in role definitions the app's identity needs, by their fixed ids, and the resource type
# each must be scoped to (least privilege: the one resource, not the group or the subscription).
REQUIRED_APP_ROLES = {
    "Storage Blob Data Owner": ("b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "Microsoft.Storage/storageAccounts"),
    "Storage Queue Data Contributor": ("974c5e8b-45b9-4653-ba55-5f855dd0fb88", "Microsoft.Storage/storageAccounts"),
    "Storage Table Data Contributor": ("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", "Microsoft.Storage/storageAccounts"),
    "Key Vault Secrets User": ("4633458b-17de-408a-b874-0445c86b69e6", "Microsoft.KeyVault/vaults"),
    "Monitoring Metrics Publisher": ("3913510d-42f4-4e42-8a64-420c390055eb", "Microsoft.Insights/components"),
    "Durable Task Data Contributor": ("0ad04412-c4d5-4796-b79c-f76d14c8d402", "Microsoft.DurableTask/schedulers"),
}
# Roles that would hand the app far more than it needs.
BROAD_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
}


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(Language(tree_sitter_bicep.language()))


@dataclass(frozen=True)
class BicepFile:
    path: Path
    source: bytes
    root: Node

    @classmethod
    def load(cls, path: Path) -> BicepFile:
        source = path.read_bytes()
        return cls(path, source, _parser().parse(source).root_node)

    def text(self, node: Node) -> str:
        return self.source[node.start_byte:node.end_byte].decode("utf-8")

    def declarations(self, kind: str) -> list[Node]:
        return [child for child in self.root.named_children if child.type == kind]

    def variable(self, name: str) -> Node | None:
        for declaration in self.declarations("variable_declaration"):
            identifier = declaration.named_children[0]
            if self.text(identifier) == name:
                return declaration.named_children[-1]
        return None

    def resources(self) -> list[Resource]:
        found = []
        for declaration in self.declarations("resource_declaration"):
            symbol, type_node = declaration.named_children[0], declaration.named_children[1]
            body = _body(declaration)
            existing = any(child.type == "existing" or self.text(child) == "existing" for child in declaration.children
                           if not child.is_named)
            found.append(Resource(self.text(symbol), string_value(self, type_node) or "", body, existing,
                                  declaration.start_point[0] + 1))
        return found


@dataclass(frozen=True)
class Resource:
    symbol: str
    type_and_version: str
    body: Node | None  # the object literal, also inside `if (...)` and `[for ...]`
    existing: bool
    line: int

    @property
    def type(self) -> str:
        return self.type_and_version.split("@", 1)[0]

    @property
    def api_version(self) -> str | None:
        parts = self.type_and_version.split("@", 1)
        return parts[1] if len(parts) == 2 else None


def _body(declaration: Node) -> Node | None:
    """The object of a resource or module, whether plain, conditional or a loop."""
    stack = list(declaration.named_children[2:])
    while stack:
        node = stack.pop(0)
        if node.type == "object":
            return node
        if node.type in ("if_statement", "for_statement"):
            stack = list(node.named_children) + stack
    return None


def string_value(bicep: BicepFile, node: Node) -> str | None:
    """A string literal's value; None for anything else (interpolated strings included)."""
    if node.type != "string" or any(child.type == "interpolation" for child in node.named_children):
        return None
    return "".join(bicep.text(child) for child in node.named_children)


def properties(bicep: BicepFile, obj: Node | None) -> dict[str, Node]:
    """Key -> value node of an object literal (quoted keys unquoted)."""
    if obj is None or obj.type != "object":
        return {}
    result = {}
    for prop in obj.named_children:
        if prop.type != "object_property":
            continue
        key_node, value = prop.named_children[0], prop.named_children[-1]
        key = string_value(bicep, key_node) if key_node.type == "string" else bicep.text(key_node)
        if key is not None:
            result[key] = value
    return result


def path_of(bicep: BicepFile, obj: Node | None, *keys: str) -> Node | None:
    node = obj
    for key in keys:
        node = properties(bicep, node).get(key)
        if node is None:
            return None
    return node


def bicep_files(infra: Path = INFRA) -> list[BicepFile]:
    return [BicepFile.load(path) for path in sorted(infra.rglob("*.bicep"))]


# --- checks ------------------------------------------------------------------------------------

def syntax_problems(infra: Path = INFRA) -> list[str]:
    problems = []
    for bicep in bicep_files(infra):
        stack = [bicep.root]
        while stack:
            node = stack.pop()
            if node.type == "ERROR" or node.is_missing:
                line, column = node.start_point
                what = "missing " + node.type if node.is_missing else "cannot parse " + repr(bicep.text(node)[:40])
                problems.append(f"{bicep.path.relative_to(infra)}:{line + 1}:{column + 1}: {what}")
            stack.extend(node.children)
    return problems


_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


def api_version_problems(infra: Path = INFRA) -> list[str]:
    problems = []
    for bicep in bicep_files(infra):
        for resource in bicep.resources():
            if not resource.api_version or not _API_VERSION.match(resource.api_version):
                problems.append(f"{bicep.path.relative_to(infra)}:{resource.line}: resource {resource.symbol} "
                                f"({resource.type_and_version!r}) declares no API version")
    return problems


def _role_ids(bicep: BicepFile) -> dict[str, str]:
    """Names of the `roles` map -> role definition ids."""
    return {name: string_value(bicep, value) or "" for name, value in properties(bicep, bicep.variable("roles")).items()}


def _resolve_role(bicep: BicepFile, node: Node | None, role_ids: dict[str, str]) -> str | None:
    """The role definition id a `roleDefinitionId:` expression names (a literal or `roles.name`)."""
    if node is None:
        return None
    guid = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", bicep.text(node))
    if guid:
        return guid.group(0)
    reference = re.search(r"\broles\.(\w+)", bicep.text(node))
    return role_ids.get(reference.group(1)) if reference else None


def role_assignments(infra: Path = INFRA) -> list[dict]:
    """Every role assignment: role id, principal expression, and the type of the resource it is scoped to."""
    found = []
    for bicep in bicep_files(infra):
        resources = {r.symbol: r for r in bicep.resources()}
        role_ids = _role_ids(bicep)
        for resource in resources.values():
            if resource.type != "Microsoft.Authorization/roleAssignments" or resource.existing:
                continue
            props = path_of(bicep, resource.body, "properties")
            scope = path_of(bicep, resource.body, "scope")
            scoped = resources.get(bicep.text(scope)) if scope is not None else None
            principal = path_of(bicep, props, "principalId")
            principal_type = path_of(bicep, props, "principalType")
            found.append({
                "file": str(bicep.path.relative_to(infra)),
                "symbol": resource.symbol,
                "role": _resolve_role(bicep, path_of(bicep, props, "roleDefinitionId"), role_ids),
                "principal": bicep.text(principal) if principal is not None else None,
                "principal_type": bicep.text(principal_type) if principal_type is not None else None,
                "scope_type": scoped.type if scoped else None,
            })
    return found


def role_problems(infra: Path = INFRA, app_principal: str = "appPrincipalId") -> list[str]:
    assignments = role_assignments(infra)
    problems = []
    for name, (role_id, scope_type) in REQUIRED_APP_ROLES.items():
        matching = [a for a in assignments if a["role"] == role_id and a["principal"] == app_principal]
        if not matching:
            problems.append(f"no role assignment gives the app's identity {name} ({role_id})")
            continue
        for assignment in matching:
            if assignment["scope_type"] != scope_type:
                problems.append(f"{name} is scoped to {assignment['scope_type'] or 'the resource group'}, "
                                f"not to the {scope_type} it is for ({assignment['file']}: {assignment['symbol']})")
            if assignment["principal_type"] != "'ServicePrincipal'":
                problems.append(f"{name}: principalType must be 'ServicePrincipal' ({assignment['symbol']})")
    for assignment in assignments:
        if assignment["role"] is None:
            problems.append(f"{assignment['file']}: {assignment['symbol']} names no known role definition")
        elif assignment["role"] in BROAD_ROLES:
            problems.append(f"{assignment['file']}: {assignment['symbol']} grants {BROAD_ROLES[assignment['role']]}")
    return problems


# --- app settings ------------------------------------------------------------------------------

FUNCTION_BICEP = Path("app") / "function.bicep"
MAIN_BICEP = Path("main.bicep")


def app_settings(infra: Path = INFRA) -> dict[str, dict[str, str | None]]:
    """The function app's settings by group: {"app": {...}, "platform": {...}, "durable_task_scheduler": {...}}.

    Values are the literal strings, or None where Bicep computes them.
    """
    bicep = BicepFile.load(infra / FUNCTION_BICEP)
    groups = {}
    for group, variable in (("app", "appSettings"), ("platform", "platformSettings"),
                            ("durable_task_scheduler", "durableTaskSchedulerSettings")):
        node = bicep.variable(variable)
        if node is not None and node.type == "ternary_expression":
            # `cond ? {} : {...}`: the settings are in the non-empty branch
            objects = [child for child in node.named_children if child.type == "object"]
            node = max(objects, key=lambda o: len(o.named_children), default=None)
        groups[group] = {key: string_value(bicep, value) for key, value in properties(bicep, node).items()}
    return groups


def applied_setting_variables(infra: Path = INFRA) -> set[str]:
    """The variables the `appsettings` config resource unions: a group left out is not applied."""
    bicep = BicepFile.load(infra / FUNCTION_BICEP)
    for resource in bicep.resources():
        if resource.type == "Microsoft.Web/sites/config":
            value = path_of(bicep, resource.body, "properties")
            return set(re.findall(r"\b(\w+Settings)\b", bicep.text(value))) if value is not None else set()
    return set()


def key_vault_secret_names(infra: Path = INFRA) -> set[str]:
    """The secret names main.bicep hands to the Key Vault module."""
    bicep = BicepFile.load(infra / MAIN_BICEP)
    for declaration in bicep.declarations("module_declaration"):
        path = string_value(bicep, declaration.named_children[1])
        if path and path.endswith("keyvault.bicep"):
            return set(properties(bicep, path_of(bicep, _body(declaration), "params", "secretValues")))
    return set()


# --- no secret material -----------------------------------------------------------------------

_SECRET_PATTERNS = {
    "storage account key or SAS": re.compile(r"AccountKey=|SharedAccessSignature=|[?&]sig=[A-Za-z0-9%]{16,}", re.I),
    "connection string with a password": re.compile(r"\b(?:postgres(?:ql)?|mysql|mongodb|redis)://[^\s'\"$]+:[^\s'\"@$]+@", re.I),
    "instrumentation key": re.compile(r"InstrumentationKey=[0-9a-f-]{36}", re.I),
    "Shopify token or secret": re.compile(r"\bshp(?:at|ss|ca|pa|rt)_[0-9a-fA-F]{16,}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "password assignment": re.compile(r"(?:password|secret|apikey|api_key)\s*[:=]\s*'[^'$]{4,}'", re.I),
    # a whole quoted value of 40+ base64 characters with digits and both cases: a key, not a name
    "long base64 value": re.compile(r"['\"](?=[^'\"]*\d)(?=[^'\"]*[a-z])(?=[^'\"]*[A-Z])[A-Za-z0-9+/]{40,}={0,2}['\"]"),
    "OpenAI-style key": re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),
}
# Functions that read an account's keys: the point is that identities replace them.
_KEY_FUNCTIONS = re.compile(r"\b(listKeys|listConnectionStrings|listAccountSas|listServiceSas|listCredentials)\s*\(")


def secret_literal_problems(infra: Path = INFRA) -> list[str]:
    problems = []
    for path in sorted(p for p in infra.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        for line_number, line in enumerate(text.splitlines(), 1):
            for what, pattern in _SECRET_PATTERNS.items():
                if pattern.search(line):
                    problems.append(f"{path.relative_to(infra)}:{line_number}: looks like a {what}")
            if path.suffix == ".bicep" and _KEY_FUNCTIONS.search(line):
                problems.append(f"{path.relative_to(infra)}:{line_number}: reads keys where an identity will do")
    for bicep in bicep_files(infra):
        problems.extend(_secure_parameter_problems(bicep, infra))
    return problems


def _secure_parameter_problems(bicep: BicepFile, infra: Path) -> list[str]:
    """A @secure() parameter may default only to an empty value: a default is a value in the repository."""
    problems = []
    children = bicep.root.named_children
    for index, node in enumerate(children):
        if node.type != "parameter_declaration":
            continue
        decorators = children[index - 1] if index and children[index - 1].type == "decorators" else None
        if decorators is None or "@secure()" not in bicep.text(decorators):
            continue
        default = node.named_children[-1] if len(node.named_children) > 2 else None
        if default is not None and bicep.text(default) not in ("''", "{}"):
            problems.append(f"{bicep.path.relative_to(infra)}:{node.start_point[0] + 1}: secure parameter "
                            f"{bicep.text(node.named_children[0])} has a default value")
    return problems


def parameters_file_problems(infra: Path = INFRA) -> list[str]:
    """main.parameters.json gives only azd substitutions, and only for parameters main.bicep declares."""
    values = json.loads((infra / "main.parameters.json").read_text())["parameters"]
    bicep = BicepFile.load(infra / MAIN_BICEP)
    declared = {bicep.text(p.named_children[0]) for p in bicep.declarations("parameter_declaration")}
    problems = [f"main.parameters.json sets {name}, which main.bicep does not declare" for name in set(values) - declared]
    for name, entry in values.items():
        if not re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*(=[^}]*)?\}", str(entry.get("value", ""))):
            problems.append(f"main.parameters.json: {name} is not an azd environment substitution")
    return problems


# --- the settings model is the one source of truth ---------------------------------------------

# Read by the Functions host, the Azure SDK or the Azure Monitor exporter, never by shared/settings.py.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AZURE_CLIENT_ID",
    "AZURE_TOKEN_CREDENTIALS",
    "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
    "AzureFunctionsJobHost__extensions__durableTask__storageProvider__type",
    "AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName",
}
# Flex Consumption refuses or ignores these (functionAppConfig replaces them), and a plain
# AzureWebJobsStorage would be a connection string with the account key.
FORBIDDEN_SETTINGS = {
    "AzureWebJobsStorage", "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD", "WEBSITE_TIME_ZONE", "TZ", "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
}
# Secrets only a developer's machine uses; Azure has no use for them, so Key Vault holds none.
# Secrets with no place in Azure: the local host's key, and a Blob connection string (Azure signs in
# with the app's identity; the string is for Azurite or a developer's own account).
LOCAL_ONLY_SECRETS = {"LOCAL_FUNCTION_KEY", "MEDIA_BLOB_CONNECTION_STRING"}


def settings_problems(infra: Path = INFRA) -> list[str]:
    """The Bicep sets every non-secret setting of the model and nothing else; every secret is a Key
    Vault secret (read at run time through KEY_VAULT_URL), never an app setting."""
    from shared.secrets import key_vault_name
    from shared.settings import Settings, secret_setting_names

    secrets = set(secret_setting_names())
    model = {name.upper() for name in Settings.model_fields}
    groups = app_settings(infra)
    app, platform = set(groups["app"]), set(groups["platform"]) | set(groups["durable_task_scheduler"])
    problems = [f"app setting {name} is in the settings model but not set by infra/{FUNCTION_BICEP}"
                for name in sorted(model - secrets - app)]
    problems += [f"app setting {name} is set by the Bicep but is not in shared/settings.py"
                 for name in sorted(app - model)]
    problems += [f"secret {name} is an app setting; secrets are read from Key Vault at run time"
                 for name in sorted(secrets & (app | platform))]
    problems += [f"{name} is neither in the settings model nor an allowed platform setting"
                 for name in sorted(platform - PLATFORM_SETTINGS)]
    problems += [f"{name} must not be set on a Flex Consumption app" for name in sorted((app | platform) & FORBIDDEN_SETTINGS)]
    vault = key_vault_secret_names(infra)
    wanted = {key_vault_name(name) for name in secrets - LOCAL_ONLY_SECRETS}
    problems += [f"secret {name} has no Key Vault secret ({key_vault_name(name)}) in infra/{MAIN_BICEP}"
                 for name in sorted(secrets - LOCAL_ONLY_SECRETS) if key_vault_name(name) not in vault]
    problems += [f"Key Vault secret {name} is not a secret of the settings model" for name in sorted(vault - wanted)]
    applied = applied_setting_variables(infra)
    problems += [f"{variable} is not applied by the appsettings resource" for variable in
                 ("appSettings", "platformSettings", "durableTaskSchedulerSettings") if variable not in applied]
    return problems


# --- modules: what the compiler would say about parameters and outputs -------------------------

def _declared_parameters(bicep: BicepFile) -> dict[str, bool]:
    """Parameter name -> whether it has a default."""
    return {bicep.text(p.named_children[0]): len(p.named_children) > 2 for p in bicep.declarations("parameter_declaration")}


def _declared_outputs(bicep: BicepFile) -> set[str]:
    return {bicep.text(o.named_children[0]) for o in bicep.declarations("output_declaration")}


def module_problems(infra: Path = INFRA) -> list[str]:
    """Every module call passes only parameters the module declares, all those without a default,
    and reads only outputs the module declares."""
    problems = []
    for bicep in bicep_files(infra):
        where = bicep.path.relative_to(infra)
        modules = {}
        for declaration in bicep.declarations("module_declaration"):
            symbol = bicep.text(declaration.named_children[0])
            target_path = string_value(bicep, declaration.named_children[1]) or ""
            target_file = bicep.path.parent / target_path
            if not target_file.is_file():
                problems.append(f"{where}: module {symbol} refers to {target_path}, which does not exist")
                continue
            target = BicepFile.load(target_file)
            modules[symbol] = target
            given = set(properties(bicep, path_of(bicep, _body(declaration), "params")))
            declared = _declared_parameters(target)
            problems += [f"{where}: module {symbol} passes {name}, which {target_path} does not declare"
                         for name in sorted(given - set(declared))]
            problems += [f"{where}: module {symbol} does not pass {name}, which {target_path} requires"
                         for name, has_default in sorted(declared.items()) if not has_default and name not in given]
        for symbol, output in re.findall(r"\b(\w+)\.outputs\.(\w+)", bicep.source.decode("utf-8")):
            if symbol in modules and output not in _declared_outputs(modules[symbol]):
                problems.append(f"{where}: {symbol}.outputs.{output} is not an output of module {symbol}")
    return problems


_DECLARATIONS = ("parameter_declaration", "variable_declaration", "resource_declaration", "module_declaration",
                 "output_declaration")


def undeclared_identifier_problems(infra: Path = INFRA) -> list[str]:
    """Every name an expression uses is declared in its file (parameter, variable, resource, module,
    loop variable): a renamed parameter still used somewhere is caught, as the compiler would."""
    problems = []
    for bicep in bicep_files(infra):
        declared = {bicep.text(d.named_children[0]) for kind in _DECLARATIONS for d in bicep.declarations(kind)}
        uses = []
        stack = [bicep.root]
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            if node.type == "for_statement" and node.child_by_field_name("initializer") is not None:
                declared.add(bicep.text(node.child_by_field_name("initializer")))
            if node.type != "identifier":
                continue
            parent = node.parent
            if parent.type in _DECLARATIONS + ("object_property",) and parent.named_children[0] == node:
                continue  # a declaration's own name, or an object key
            if parent.type == "call_expression" and parent.child_by_field_name("function") == node:
                continue  # a function: Bicep's own
            if parent.type == "for_statement" and parent.child_by_field_name("initializer") == node:
                continue
            uses.append(node)
        for node in uses:
            if bicep.text(node) not in declared:
                problems.append(f"{bicep.path.relative_to(infra)}:{node.start_point[0] + 1}: "
                                f"{bicep.text(node)} is not declared")
    return problems
