from abscopal.cli import app

app(prog_name="abscopal")
