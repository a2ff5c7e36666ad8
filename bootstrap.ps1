<#
.SYNOPSIS
    Set up this repository on Windows: Python environments, hardware profile and,
    optionally, the models.

.DESCRIPTION
    The PowerShell twin of bootstrap.sh. It checks Python (>= 3.10), ffmpeg/ffprobe and
    the free disk space, installs uv with pip when it is absent, builds every environment
    this platform needs (config/environments.toml, through shared.environment_manager
    plan) in .venvs\<name>\ (interpreter .venvs\<name>\Scripts\python.exe), common first,
    writes the hardware profile config\hardware_cache.json (shared.hardware detect) and,
    with -CacheModels, runs "bash cache-models.sh --all". An environment whose pinned
    requirements did not change is left alone; a second run takes seconds.

    Options, bootstrap.sh -> bootstrap.ps1:
      --cache-models      -CacheModels
      --skip-cache        -SkipCache
      --force             -Force
      --envs A,B          -Envs A,B
      -y, --yes           -Yes
      --debug             -DebugMode   (-Debug is a PowerShell common parameter)
      -h, --help          -Help

    Environment: PYTHON (the Python to build with; default python, python3, then py -3),
    UV (a uv.exe to use), NO_COLOR and CI (no colour; CI=true never prompts).
    A log of each run is written to logs\bootstrap-<UTC time>.log.
    Exit status: 0 done, 1 a step failed (named in the message), 2 bad usage.

.PARAMETER CacheModels
    Download the models after setting up (bash cache-models.sh --all; needs bash from
    Git for Windows or WSL).

.PARAMETER SkipCache
    Do not download the models and do not ask. Default: ask in an interactive console,
    never ask otherwise.

.PARAMETER Force
    Rebuild the environments even when they are up to date.

.PARAMETER Envs
    Build only these environments (common is always ensured), e.g. -Envs ml,dev.
    Default: every environment this platform needs.

.PARAMETER Yes
    Unattended: never prompt. Models are downloaded only with -CacheModels.

.PARAMETER DebugMode
    Trace every script line (Set-PSDebug -Trace 1) into logs\bootstrap-<UTC time>.trace.log.

.PARAMETER Help
    Show this help.

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File .\bootstrap.ps1 -SkipCache

.EXAMPLE
    .\bootstrap.ps1 -CacheModels -Envs ml
#>
param(
    [switch]$CacheModels,
    [switch]$SkipCache,
    [switch]$Force,
    [string[]]$Envs = @(),
    [switch]$Yes,
    [switch]$DebugMode,
    [switch]$Help
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# ---- state ---------------------------------------------------------------------------------
$script:Root = $PSScriptRoot
$script:LogFile = $null
$script:TraceFile = $null
$script:Step = ''
$script:Py = $null
$script:CommonPy = $null
$script:UvCmd = @()
$script:Plan = @()
$script:Built = New-Object System.Collections.Generic.List[string]
$script:UpToDate = New-Object System.Collections.Generic.List[string]
$script:HardwareLine = ''
$script:ModelsResult = ''
$script:UseColor = (-not $env:NO_COLOR) -and (-not $env:CI) -and (-not [Console]::IsOutputRedirected)
$script:MarginMb = 1024
$script:HardwareCache = 'config\hardware_cache.json'
$script:EnvironmentsToml = 'config\environments.toml'

# ---- output --------------------------------------------------------------------------------
function Write-LogLine([string]$Text) {
    if ($script:LogFile) {
        Add-Content -LiteralPath $script:LogFile -Value $Text -Encoding UTF8
    }
}

function Write-Info([string]$Text) {
    if ($script:UseColor) {
        Write-Host 'bootstrap: ' -NoNewline -ForegroundColor Cyan
        Write-Host $Text
    } else {
        Write-Host "bootstrap: $Text"
    }
    Write-LogLine "bootstrap: $Text"
}

function Write-Warn([string]$Text) {
    if ($script:UseColor) {
        Write-Host "bootstrap: warning: $Text" -ForegroundColor Yellow
    } else {
        Write-Host "bootstrap: warning: $Text"
    }
    Write-LogLine "bootstrap: warning: $Text"
}

function Write-Err([string]$Text) {
    if ($script:UseColor) {
        Write-Host "bootstrap: error: $Text" -ForegroundColor Red
    } else {
        Write-Host "bootstrap: error: $Text"
    }
    Write-LogLine "bootstrap: error: $Text"
}

function Exit-Usage([string]$Text) {
    Write-Err $Text
    Write-Host 'Try: Get-Help .\bootstrap.ps1 -Detailed   (or .\bootstrap.ps1 -Help)'
    exit 2
}

function Enter-Step([string]$Name) {
    $script:Step = $Name
    Write-Info "== $Name"
}

# ---- running native commands ------------------------------------------------------------------
# Windows PowerShell turns a native command's stderr into errors when
# $ErrorActionPreference is 'Stop', so these helpers lower it around the call and judge
# the command by its exit code alone.

function Invoke-Logged {
    # Run Exe with Arguments; its output goes to the log, its last lines to the console on failure.
    param([Parameter(Mandatory = $true)][string]$Exe, [string[]]$Arguments = @())
    Write-LogLine ('$ ' + $Exe + ' ' + ($Arguments -join ' '))
    $start = @(Get-Content -LiteralPath $script:LogFile).Count
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        & $Exe @Arguments 2>&1 | ForEach-Object { [string]$_ } |
            Out-File -LiteralPath $script:LogFile -Append -Encoding utf8
        $code = $LASTEXITCODE
    } finally {
        $ErrorActionPreference = $previous
    }
    if ($code -ne 0) {
        Write-Err "command failed (exit $code): $Exe $($Arguments -join ' ')"
        Get-Content -LiteralPath $script:LogFile | Select-Object -Skip $start | Select-Object -Last 25 |
            ForEach-Object { Write-Host "  | $_" }
        throw "'$Exe' exited with $code"
    }
}

function Get-NativeOutput {
    # Stdout lines of Exe, or $null when it cannot run or exits non-zero (stderr goes to the log).
    param([Parameter(Mandatory = $true)][string]$Exe, [string[]]$Arguments = @())
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        $all = @(& $Exe @Arguments 2>&1)
        $code = $LASTEXITCODE
    } catch {
        return $null
    } finally {
        $ErrorActionPreference = $previous
    }
    $stdout = @()
    foreach ($item in $all) {
        if ($item -is [System.Management.Automation.ErrorRecord]) {
            Write-LogLine ([string]$item)
        } else {
            $stdout += [string]$item
        }
    }
    if ($code -ne 0) {
        return $null
    }
    return , $stdout
}

function Test-Native {
    param([Parameter(Mandatory = $true)][string]$Exe, [string[]]$Arguments = @())
    return ($null -ne (Get-NativeOutput -Exe $Exe -Arguments $Arguments))
}

# ---- options -------------------------------------------------------------------------------------
function Get-KnownEnvironment {
    $path = Join-Path $script:Root $script:EnvironmentsToml
    $names = @()
    foreach ($match in @(Select-String -LiteralPath $path -Pattern '^\[environments\.([A-Za-z0-9_-]+)\]\s*$')) {
        $names += $match.Matches[0].Groups[1].Value
    }
    return , $names
}

function Get-RequestedEnvironment {
    # -Envs as a list of names; "ml,dev" from cmd.exe arrives as one string.
    $names = @()
    foreach ($item in @($Envs)) {
        foreach ($part in ([string]$item -split ',')) {
            if ($part.Trim()) {
                $names += $part.Trim()
            }
        }
    }
    return , $names
}

function Test-Usage {
    if ($Help) {
        Get-Help -Name $PSCommandPath -Detailed
        exit 0
    }
    if (@($script:UnboundArguments).Count -gt 0) {
        Exit-Usage "unknown option: $(@($script:UnboundArguments)[0])"
    }
    if ($CacheModels -and $SkipCache) {
        Exit-Usage '-CacheModels and -SkipCache contradict each other: choose one'
    }
    $known = Get-KnownEnvironment
    if (@($Envs).Count -gt 0 -and @(Get-RequestedEnvironment).Count -eq 0) {
        Exit-Usage '-Envs needs at least one name, e.g. -Envs ml,dev'
    }
    foreach ($name in @(Get-RequestedEnvironment)) {
        if ($known -notcontains $name) {
            Exit-Usage "unknown environment '$name' in -Envs; known: $($known -join ', ')"
        }
    }
}

# ---- steps ----------------------------------------------------------------------------------------
function Get-VenvPython([string]$Name) {
    return (Join-Path $script:Root ".venvs\$Name\Scripts\python.exe")
}

function Find-Python {
    Enter-Step 'python'
    $candidates = @()
    if ($env:PYTHON) {
        $candidates += , @($env:PYTHON)
    } else {
        $candidates += , @('python')
        $candidates += , @('python3')
        $candidates += , @('py', '-3')
    }
    # No quotes in the code: Windows PowerShell mangles embedded quotes in native arguments.
    $probe = 'import sys; print(*sys.version_info[:3], sep=chr(46)); print(sys.executable)'
    foreach ($candidate in $candidates) {
        $exe = $candidate[0]
        $pre = @($candidate | Select-Object -Skip 1)
        if (-not (Get-Command $exe -ErrorAction SilentlyContinue)) {
            continue
        }
        $out = Get-NativeOutput -Exe $exe -Arguments ($pre + @('-c', $probe))
        if ($null -eq $out -or @($out).Count -lt 2) {
            continue
        }
        $version = [string]$out[0]
        if ([version]$version -ge [version]'3.10') {
            $script:Py = [string]$out[1]
            Write-Info "python: $($script:Py) ($version)"
            return
        }
        Write-Warn "python: $exe is $version; this project needs Python >= 3.10"
    }
    if ($env:PYTHON) {
        throw "PYTHON=$env:PYTHON is not a working Python >= 3.10"
    }
    Write-Err 'python: no Python >= 3.10 found (looked for python, python3, py -3); install it: winget install Python.Python.3.12'
    throw 'no Python >= 3.10'
}

function Test-Ffmpeg {
    Enter-Step 'ffmpeg'
    $missing = $false
    foreach ($tool in @('ffmpeg', 'ffprobe')) {
        $found = Get-Command $tool -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
        if ($found) {
            Write-LogLine "${tool}: $($found.Path)"
        } else {
            Write-Err "$tool not found on PATH"
            $missing = $true
        }
    }
    if ($missing) {
        Write-Err 'install ffmpeg (it provides ffprobe too): winget install ffmpeg   (then open a new terminal)'
        throw 'ffmpeg or ffprobe is missing'
    }
    Write-Info "ffmpeg: $((Get-Command ffmpeg -CommandType Application | Select-Object -First 1).Path)"
}

# uv lives in a private tools folder when bootstrap installs it: pip's --target puts the
# package (and the uv.exe it ships, in bin\ or Scripts\) under .venvs\.tools\uv and
# nowhere else. Not --user: that writes into the user's site-packages. The version is
# pinned in requirements\uv.txt (bootstrap.sh reads it too).
function Get-UvToolsDir {
    return (Join-Path $script:Root '.venvs\.tools\uv')
}

function Get-UvBinaryIn([string]$Dir) {
    foreach ($rel in @('bin\uv.exe', 'Scripts\uv.exe', 'bin\uv')) {
        $candidate = Join-Path $Dir $rel
        if (Test-Path -LiteralPath $candidate -PathType Leaf) {
            return $candidate
        }
    }
    return $null
}

# Sets UvCmd to a uv *binary*; never 'python -m uv', which targets the interpreter that
# launched it (possibly the system Python).
function Find-Uv {
    if ($env:UV) {
        if (Test-Path -LiteralPath $env:UV -PathType Leaf) {
            $script:UvCmd = @($env:UV)
            return $true
        }
        throw "UV=$env:UV is not a file"
    }
    $uv = Get-Command uv -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($uv) {
        $script:UvCmd = @($uv.Path)
        return $true
    }
    $bin = Get-UvBinaryIn (Get-UvToolsDir)
    if ($bin) {
        $script:UvCmd = @($bin)
        return $true
    }
    $shipped = Get-NativeOutput -Exe $script:Py -Arguments @('-c', 'import uv; print(uv.find_uv_bin())')
    if ($shipped -and (Test-Path -LiteralPath ([string]@($shipped)[0]) -PathType Leaf)) {
        $script:UvCmd = @([string]@($shipped)[0])
        return $true
    }
    return $false
}

function Initialize-Uv {
    if (@($script:UvCmd).Count -gt 0) {
        return
    }
    $saved = $script:Step
    Enter-Step 'uv'
    if (-not (Find-Uv)) {
        $tools = Get-UvToolsDir
        Write-Info "uv: not found; installing it with pip into .venvs\.tools\uv (a private folder; the system Python is not changed)"
        Remove-Item -LiteralPath $tools -Recurse -Force -ErrorAction SilentlyContinue
        Invoke-Logged -Exe $script:Py -Arguments @('-m', 'pip', 'install', '--disable-pip-version-check', '--no-warn-script-location', '--quiet', '--target', $tools, '-r', (Join-Path $script:Root 'requirements\uv.txt'))
        if (-not (Find-Uv)) {
            throw "uv: pip installed it into $tools, but no uv binary is there; set UV=C:\path\to\uv.exe"
        }
    }
    Write-Info "uv: $($script:UvCmd -join ' ')"
    $script:Step = $saved
}

# The environment's own interpreter imports its key modules and its sys.prefix is the
# environment (shared\verify_env.py); otherwise one line naming what is wrong.
function Test-BuiltEnvironment([string]$Name, [string]$Dir, [string]$Modules) {
    $py = Get-VenvPython $Name
    if (-not (Test-Path -LiteralPath $py)) {
        throw "${Name}: .venvs\$Name has no interpreter ($py); run .\bootstrap.ps1 -Force -Envs $Name"
    }
    $verifier = Join-Path $script:Root 'shared\verify_env.py'
    Write-LogLine "`$ $py -I $verifier $Dir $Modules"
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        $output = @(& $py -I $verifier $Dir $Modules 2>&1)
        $code = $LASTEXITCODE
    } finally {
        $ErrorActionPreference = $previous
    }
    foreach ($line in $output) {
        Write-LogLine ([string]$line)
    }
    if ($code -ne 0) {
        throw "${Name}: $([string]@($output)[-1])"
    }
}

function Invoke-Uv([string[]]$Arguments) {
    $exe = @($script:UvCmd)[0]
    $pre = @($script:UvCmd | Select-Object -Skip 1)
    Invoke-Logged -Exe $exe -Arguments ($pre + $Arguments)
}

function Get-CommonPython {
    if (-not $script:CommonPy) {
        $script:CommonPy = Get-VenvPython 'common'
    }
    return $script:CommonPy
}

function Test-Tomllib {
    return (Test-Native -Exe $script:Py -Arguments @('-c', 'import tomllib'))
}

function Get-PlanPython {
    if (Test-Tomllib) {
        return $script:Py
    }
    return (Get-CommonPython)
}

function Build-Environment([string]$Name, [string]$Requirements, [string]$State, [string]$Modules = '') {
    $dir = Join-Path $script:Root ".venvs\$Name"
    if ($State -eq 'up-to-date' -and -not $Force) {
        Write-Info "${Name}: up to date"
        $script:UpToDate.Add($Name)
        return
    }
    Initialize-Uv
    $script:Step = "environment $Name"
    if ($Force -or $State -eq 'missing' -or $State -eq 'broken') {
        if ($State -eq 'broken') {
            Write-Info "${Name}: .venvs\$Name is stamped but its packages are missing (an older bootstrap?); rebuilding it"
        }
        Write-Info "${Name}: creating .venvs\$Name"
        Invoke-Uv @('venv', '--clear', '--python', $script:Py, $dir)
    } else {
        Write-Info "${Name}: requirements changed; syncing"
    }
    # A sync cut short must not leave an environment that looks up to date.
    Remove-Item -LiteralPath (Join-Path $dir '.requirements.sha256') -Force -ErrorAction SilentlyContinue
    $py = Get-VenvPython $Name
    Write-Info "${Name}: installing $Requirements (this can take minutes the first time)"
    # --python names the target: uv never falls back to another interpreter.
    Invoke-Uv @('pip', 'sync', '--python', $py, $Requirements, '--compile-bytecode')
    Test-BuiltEnvironment $Name $dir $Modules
    if ($Name -eq 'common') {
        $script:CommonPy = $py
    }
    Invoke-Logged -Exe (Get-CommonPython) -Arguments @('-m', 'shared.environment_manager', 'stamp', $Name)
    $script:Built.Add($Name)
}

# The verify list of [environments.NAME] in config\environments.toml, comma-separated
# (Python 3.10 has no tomllib to ask the environment manager before common exists).
function Get-TomlVerifyModules([string]$Name) {
    $inside = $false
    foreach ($line in Get-Content -LiteralPath (Join-Path $script:Root 'config\environments.toml')) {
        if ($line -match '^\[') {
            $inside = ($line.Trim() -eq "[environments.$Name]")
        } elseif ($inside -and $line -match '^verify\s*=\s*\[(.*)\]') {
            return (($Matches[1] -replace '[" ]', ''))
        }
    }
    return ''
}

function Read-Plan {
    Enter-Step 'plan'
    if (-not (Test-Tomllib)) {
        # Python 3.10: build common from its fixed requirements first, then ask it.
        $state = 'missing'
        if (Test-Path -LiteralPath (Get-CommonPython)) {
            $state = 'stale'
            $lines = Get-NativeOutput -Exe (Get-CommonPython) -Arguments @('-m', 'shared.environment_manager', 'plan')
            foreach ($line in @($lines)) {
                $fields = ([string]$line) -split "`t"
                if ($fields[0] -eq 'common' -and @($fields).Count -ge 3) {
                    $state = $fields[2]
                }
            }
        }
        Build-Environment 'common' (Join-Path $script:Root 'requirements\common.txt') $state (Get-TomlVerifyModules 'common')
        $script:Step = 'plan'
    }
    $planPy = Get-PlanPython
    Write-LogLine "`$ $planPy -m shared.environment_manager plan"
    $lines = Get-NativeOutput -Exe $planPy -Arguments @('-m', 'shared.environment_manager', 'plan')
    if ($null -eq $lines -or @($lines).Count -eq 0) {
        throw "'$planPy -m shared.environment_manager plan' failed or listed no environment (see the log)"
    }
    $entries = @()
    foreach ($line in @($lines)) {
        Write-LogLine $line
        $fields = ([string]$line) -split "`t"
        if (@($fields).Count -lt 4) {
            continue
        }
        $modules = ''
        if (@($fields).Count -ge 5) {
            $modules = $fields[4]
        }
        $entries += [pscustomobject]@{ Name = $fields[0]; Requirements = $fields[1]; State = $fields[2]; SizeMb = [int]$fields[3]; Modules = $modules }
    }
    $requested = @(Get-RequestedEnvironment)
    if ($requested.Count -gt 0) {
        $planned = @($entries | ForEach-Object { $_.Name })
        foreach ($name in $requested) {
            if ($planned -notcontains $name) {
                Exit-Usage "environment '$name' is not built on this platform (it builds: $($planned -join ', '))"
            }
        }
        $entries = @($entries | Where-Object { $_.Name -eq 'common' -or $requested -contains $_.Name })
    }
    $script:Plan = $entries
}

function Get-FreeMb([string]$Path) {
    try {
        $drive = New-Object System.IO.DriveInfo -ArgumentList ([System.IO.Path]::GetPathRoot($Path))
        return [long][math]::Floor($drive.AvailableFreeSpace / 1MB)
    } catch {
        return $null
    }
}

function Test-Disk {
    Enter-Step 'disk'
    $need = 0
    $names = @()
    foreach ($entry in $script:Plan) {
        if ($entry.State -ne 'up-to-date' -or $Force) {
            $need += $entry.SizeMb
            $names += $entry.Name
        }
    }
    if ($need -eq 0) {
        Write-Info 'disk: nothing to build'
        return
    }
    $need += $script:MarginMb
    $free = Get-FreeMb $script:Root
    if ($null -eq $free) {
        Write-Warn 'disk: could not read the free space; going on'
        return
    }
    if ($free -lt $need) {
        Write-Err "disk: building $($names -join ' ') needs about $need MB (with a $($script:MarginMb) MB margin) but only $free MB are free on the drive of $($script:Root)"
        Write-Err 'free some space, or build fewer environments with -Envs'
        throw 'not enough free disk space'
    }
    Write-Info "disk: $free MB free, about $need MB needed for $($names -join ' ')"
}

function Build-Environments {
    Enter-Step 'environments'
    foreach ($entry in $script:Plan) {
        # On Python 3.10 Read-Plan has built common already.
        if ($script:Built.Contains($entry.Name)) {
            continue
        }
        Build-Environment $entry.Name $entry.Requirements $entry.State $entry.Modules
    }
    $script:Step = 'environments'
}

function Invoke-HardwareDetection {
    Enter-Step 'hardware'
    $cache = Join-Path $script:Root $script:HardwareCache
    Invoke-Logged -Exe (Get-CommonPython) -Arguments @('-m', 'shared.hardware', 'detect', '--output', $cache)
    $line = Get-NativeOutput -Exe (Get-CommonPython) -Arguments @('-m', 'shared.hardware', 'show', '--cache', $cache)
    if ($null -eq $line) {
        throw 'shared.hardware show failed (see the log)'
    }
    $script:HardwareLine = (@($line) -join ' ')
    Write-Info "hardware: $($script:HardwareLine)"
}

function Test-ShouldCacheModel {
    # $true to download. Asks only in an interactive console, never with -Yes or CI=true.
    if ($CacheModels) {
        return $true
    }
    if ($SkipCache) {
        $script:ModelsResult = 'skipped (-SkipCache)'
        return $false
    }
    $interactive = [Environment]::UserInteractive -and (-not [Console]::IsInputRedirected) -and (-not [Console]::IsOutputRedirected)
    if ($Yes -or $env:CI -eq 'true' -or -not $interactive) {
        $script:ModelsResult = 'not downloaded (no prompt: unattended); run: bash cache-models.sh --all'
        return $false
    }
    $answer = Read-Host 'Download the models now (several GB)? [y/N]'
    Write-LogLine "Download the models now (several GB)? [y/N] $answer"
    if ($answer -match '^(y|yes)$') {
        return $true
    }
    $script:ModelsResult = 'not downloaded; run: bash cache-models.sh --all when you want them'
    return $false
}

function Invoke-ModelCache {
    Enter-Step 'models'
    if (-not (Test-ShouldCacheModel)) {
        Write-Info "models: $($script:ModelsResult)"
        return
    }
    if (-not (Test-Path -LiteralPath (Join-Path $script:Root 'cache-models.sh') -PathType Leaf)) {
        throw "cache-models.sh is missing from $($script:Root)"
    }
    $bash = Get-Command bash -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if (-not $bash) {
        Write-Err 'bash was not found: install Git for Windows (https://gitforwindows.org/) or use WSL, then run: bash cache-models.sh --all'
        throw 'bash is missing'
    }
    Write-Info 'models: bash cache-models.sh --all'
    Invoke-Logged -Exe $bash.Path -Arguments @('cache-models.sh', '--all')
    $script:ModelsResult = 'cached (bash cache-models.sh --all)'
}

function Write-Summary {
    $script:Step = 'summary'
    $built = if ($script:Built.Count -gt 0) { $script:Built -join ' ' } else { 'none' }
    $fresh = if ($script:UpToDate.Count -gt 0) { $script:UpToDate -join ' ' } else { 'none' }
    Write-Info 'done.'
    Write-Info "  environments built: $built"
    Write-Info "  up to date:         $fresh"
    Write-Info "  hardware:           $($script:HardwareLine)"
    Write-Info "  models:             $($script:ModelsResult)"
    Write-Info 'next: make transcribe FILE=path\to\video.mkv   (make from Git for Windows, MSYS2 or WSL)'
    Write-Info "log: $($script:LogFile)"
}

function Open-Log {
    $logs = Join-Path $script:Root 'logs'
    New-Item -ItemType Directory -Force -Path $logs | Out-Null
    $stamp = (Get-Date).ToUniversalTime().ToString("yyyyMMdd'T'HHmmss'Z'")
    $script:LogFile = Join-Path $logs "bootstrap-$stamp.log"
    if (Test-Path -LiteralPath $script:LogFile) {
        $script:LogFile = Join-Path $logs "bootstrap-$stamp-$PID.log"
    }
    Set-Content -LiteralPath $script:LogFile -Value "bootstrap.ps1 $stamp in $($script:Root)" -Encoding UTF8
    if ($DebugMode) {
        $script:TraceFile = [System.IO.Path]::ChangeExtension($script:LogFile, '.trace.log')
        Write-LogLine "trace: $($script:TraceFile)"
        Start-Transcript -LiteralPath $script:TraceFile | Out-Null
        Set-PSDebug -Trace 1
    }
}

function Invoke-Main {
    Test-Usage
    Open-Log
    Find-Python
    Test-Ffmpeg
    Read-Plan
    Test-Disk
    Build-Environments
    Invoke-HardwareDetection
    Invoke-ModelCache
    Write-Summary
}

# Arguments no parameter took (e.g. -Frobnicate): a usage error, not silently ignored.
$script:UnboundArguments = @($args)
Push-Location -LiteralPath $script:Root
$exitCode = 0
try {
    Invoke-Main
} catch {
    Write-Err "step '$($script:Step)' failed: $($_.Exception.Message)"
    if ($script:LogFile) {
        Write-Host "bootstrap: log: $($script:LogFile)"
    }
    $exitCode = 1
} finally {
    if ($script:TraceFile) {
        Set-PSDebug -Off
        Stop-Transcript | Out-Null
    }
    Pop-Location
}
exit $exitCode
